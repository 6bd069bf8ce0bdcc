/**
 * A device twin as IoT Hub keeps it: desired and reported property documents, each with its own `$version`.
 * Patches merge recursively; `null` deletes a member.
 *
 * @see https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-device-twins
 */

/** A JSON object. */
export type JsonObject = { [key: string]: unknown };

/** The twin document as the device receives it from a GET: `{desired, reported}` with their `$version`s. */
export interface TwinDocument {
  desired: JsonObject & { $version: number };
  reported: JsonObject & { $version: number };
}

/** Whether `v` is a plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merge `patch` into `target` in place: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: JsonObject, patch: JsonObject): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete target[key];
    } else if (isJsonObject(value)) {
      // Own properties only: `target.__proto__` would be Object.prototype, and merging into it pollutes every object.
      const current = Object.hasOwn(target, key) ? target[key] : undefined;
      if (isJsonObject(current)) mergePatch(current, value);
      else {
        const fresh: JsonObject = {};
        mergePatch(fresh, value);
        setOwn(target, key, fresh);
      }
    } else {
      setOwn(target, key, structuredClone(value));
    }
  }
}

/** `obj[key] = value` as an own data property, even for `__proto__` (an assignment would replace the prototype). */
function setOwn(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** One device's twin. Versions start at 1, as on a freshly created IoT Hub device. */
export class Twin {
  #desired: JsonObject = {};
  #reported: JsonObject = {};
  desiredVersion = 1;
  reportedVersion = 1;

  /** A deep copy of the document, as a twin GET returns it. */
  document(): TwinDocument {
    return {
      desired: { ...structuredClone(this.#desired), $version: this.desiredVersion },
      reported: { ...structuredClone(this.#reported), $version: this.reportedVersion },
    };
  }

  /** Apply a reported patch from the device; returns the new reported version. */
  patchReported(patch: JsonObject): number {
    mergePatch(this.#reported, patch);
    return ++this.reportedVersion;
  }

  /** Apply a desired patch from the service; returns the body pushed to the device (the patch plus `$version`). */
  patchDesired(patch: JsonObject): JsonObject & { $version: number } {
    mergePatch(this.#desired, patch);
    this.desiredVersion++;
    return { ...structuredClone(patch), $version: this.desiredVersion };
  }

  /** Replace the desired document (service `replaceTwin`); returns the new version. */
  replaceDesired(desired: JsonObject): number {
    this.#desired = structuredClone(desired);
    return ++this.desiredVersion;
  }
}
