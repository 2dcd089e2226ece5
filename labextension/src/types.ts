/** The JSON of rv_jupyter/server/lab_view.py (LabView), as the server sends it. */

export interface Connection {
  user: string | null;
  host: string | null;
  status: 'ok' | 'reconnecting' | 'failed' | 'connecting';
  error: string | null;
}

export interface LabJob {
  job_id: string;
  name: string;
  partition: string | null;
  account: string | null;
  state: string;
  raw_state: string;
  reason_code: string | null;
  reason_text: string | null;
  gpus: number;
  gpu_label: string | null;
  node_list: string | null;
  nodes: number | null;
  elapsed_s: number | null;
  time_limit_s: number | null;
  left_s: number | null;
  start_time: string | null;
  su_per_hour: number | null;
  sus: number | null;
}

export interface GpuAvailability {
  partition: string;
  gpu_type: string | null;
  gres: string;
  label: string;
  vram_gb: number | null;
  su_per_gpu_hour: number | null;
  total: number;
  free: number;
  nodes_idle: number;
  nodes_mixed: number;
  nodes_allocated: number;
  nodes_down: number;
}

export interface SuBalance {
  account: string;
  allocation: number | null;
  used: number | null;
  balance: number | null;
}

export interface Quota {
  type: string;
  location: string | null;
  name: string | null;
  size_bytes: number | null;
  used_bytes: number | null;
  size_text: string | null;
  used_text: string | null;
  use_percent: number | null;
}

export interface LabView {
  connection: Connection;
  now: string;
  read_at: string | null;
  age_s: number | null;
  stale: boolean;
  jobs: LabJob[];
  gpus: GpuAvailability[];
  allocations: SuBalance[];
  quotas: Quota[];
  fairshare: number | null;
  errors: Record<string, string>;
  warn_s: number;
}

/** One strategy of a pending kernel's fan-out (allocator/records.py: row()). */
export interface StrategyRow {
  strategy: string;
  partition: string;
  job: string | null;
  state: string;
  reason: string | null;
  start: string | null; // "2026-12-01 14:05", the server's local time
}

/** A Rivanna kernel of this server (kernels/provisioner.py: info()). */
export interface KernelInfo {
  kernel_id: string;
  display_name: string;
  status: string;
  pending: boolean;
  job: string | null;
  node: string | null;
  allocated: boolean;
  ended: string | null;
  transport: string;
  strategies: StrategyRow[];
  ended_state: string | null;
  hint: string | null;
}

/** Something that happened to a job (rv_jupyter/server/job_events.py: JobEvent). */
export interface JobEvent {
  kind: 'started' | 'ended' | 'failed';
  job_id: string;
  name: string;
  state: string;
  node_list: string | null;
  message: string;
}
