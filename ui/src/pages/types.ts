// The API's shapes the pages read (docs/api.md).
export interface Resources {
  cpu_millis?: number;
  memory_bytes?: number;
  pids?: number;
}

export interface NodeView {
  id: string;
  registered: boolean;
  status: string;
  labels: Record<string, string>;
  capacity: Resources;
  allocated: Resources;
  address: string;
  registered_ms: number;
  instances: number;
  ready: number;
}

export interface InstanceView {
  id: string;
  node: string;
  state: string;
  up_to_date: boolean;
  deploy_hash: string;
  message?: string;
  ip?: string;
  ports?: Record<string, number>;
  restarts?: number;
  cpuMillis?: number;
  readySinceMs?: number;
}

export interface Rollout {
  from: string;
  to: string;
  image: string;
  phase: 'progressing' | 'complete' | 'failed' | 'paused';
  reason: string;
  started_ms: number;
  desired: number;
  new_total: number;
  new_available: number;
  new_failed: number;
  outdated: number;
  is_rollback: boolean;
  strategy?: 'canary';
  canary?: { state: string; replicas: number; weight: number; stable: string; stable_image: string; stable_total: number; stable_available: number };
}

export interface ServiceView {
  name: string;
  image: string;
  desired: number;
  instances_total: number;
  ready: number;
  available: number;
  up_to_date: number;
  instances?: InstanceView[];
  rollout?: Rollout;
  unschedulable?: { count: number; reason: string };
  autoscale?: { min: number; max: number };
  cpu_millis_per_ready?: number;
}

export interface AppView {
  namespace: string;
  name: string;
  revision: number;
  health?: 'healthy' | 'progressing' | 'degraded';
  services: ServiceView[];
  spec?: any;
  events?: { time_ms: number; type: string; service: string; reason: string; message: string }[];
}

export interface AppList {
  apps: AppView[];
  total: number;
  continue?: string;
  health_counts?: Record<string, number>;
}
