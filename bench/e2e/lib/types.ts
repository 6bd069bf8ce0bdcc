/**
 * Shapes shared by the orchestrator, the emulator process and the workers of the end-to-end benchmarks.
 */

/** Where the emulator's hub listens, and the CA that signs its certificate. */
export interface EmulatorInfo {
  /** Hub host name: TLS SNI and the host in the MQTT username and SAS resource. */
  host: string;
  /** Address to connect to (127.0.0.1). */
  address: string;
  port: number;
  /** PEM of the emulator's root CA. */
  ca: string;
}

/** A SAS device registered on the emulator for one benchmark run. */
export interface RegisteredBenchDevice {
  deviceId: string;
  hub: string;
  primaryKey: string;
  /** Connection string for Microsoft's SDK (`GatewayHostName=127.0.0.1:<port>`). */
  connectionString: string;
}

/** CPU and memory of a process at one instant. */
export interface UsageSnapshot {
  /** User + system CPU time since the process started, microseconds. */
  cpuMicros: number;
  /** `performance.now()` of that process, ms. */
  wallMs: number;
  rss: number;
  heapUsed: number;
}

/** The libraries compared, and `tls`: a bare TLS connection (the memory floor, idle-memory case only). */
export type SideName = 'ours' | 'sdk' | 'mqttjs' | 'tls';

/** A throughput case: one device, a closed loop of `inFlight` sends. */
export interface ThroughputSpec {
  kind: 'throughput';
  side: SideName;
  payloadBytes: number;
  qos: 0 | 1;
  inFlight: number;
  warmupSeconds: number;
  seconds: number;
}

/** Result of a throughput case. */
export interface ThroughputResult {
  /** Messages acknowledged (QoS 1) or, for QoS 0, handled by the hub (see the method in RESULTS.md), per second. */
  messagesPerSecond: number;
  /** Client CPU (user + system) per message, microseconds. */
  cpuMicrosPerMessage: number;
  /** Client CPU use over the window, in cores (1 = one core busy). */
  clientCores: number;
  /** Emulator CPU use over the window, in cores. */
  emulatorCores: number;
  messages: number;
  seconds: number;
  /** Largest number of QoS 1 publishes the client library itself held unacknowledged (sampled), when it tells. */
  observedInFlight?: number;
}

/** A connect-to-ready latency case: sequential connects of fresh clients. */
export interface ConnectSpec {
  kind: 'connect';
  side: SideName;
  samples: number;
  warmup: number;
}

/** Round-trip latency cases (twin reported update, direct method). */
export interface RoundTripSpec {
  kind: 'roundtrip';
  side: SideName;
  samples: number;
  warmup: number;
}

/** Latency samples in ms. */
export interface LatencyResult {
  samples: number[];
}

/** Round-trip results. */
export interface RoundTripResult {
  twinReported: number[];
  method: number[];
}

/** A scale case: `devices` clients in one process, idle then each sending one message per second. */
export interface ScaleSpec {
  kind: 'scale';
  side: SideName;
  devices: number;
  /** Connections opened at once while connecting the devices. */
  connectConcurrency: number;
  /** Seconds of the one-message-per-second load (0: idle memory only). */
  loadSeconds: number;
  payloadBytes: number;
  /** Give up connecting after this long (ms); the result then says how many connected. */
  connectTimeoutMs: number;
}

/** Memory of one process, bytes. */
export interface MemorySnapshot {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Result of a scale case. */
export interface ScaleResult {
  devices: number;
  connected: number;
  connectSeconds: number;
  baseline: MemorySnapshot;
  idle: MemorySnapshot;
  /** Load phase; absent when `loadSeconds` is 0 or not every device connected. */
  load?: {
    seconds: number;
    sent: number;
    acked: number;
    failed: number;
    clientCores: number;
    emulatorCores: number;
    cpuMicrosPerMessage: number;
    peakRss: number;
    endHeapUsed: number;
    ackP50: number;
    ackP99: number;
    ackMax: number;
  };
  error?: string;
}

/** Anything a worker can run. */
export type WorkerSpec = ThroughputSpec | ConnectSpec | RoundTripSpec | ScaleSpec;
