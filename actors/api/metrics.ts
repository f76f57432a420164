// The front's Prometheus metrics, named as vLLM's under an `eaas:` prefix, with a model_name label.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { loadRegistry } from '../../observability/metrics.js';

// vLLM's bucket boundaries (vllm/engine/metrics.py), so dashboards built for vLLM read ours the same way.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0];

export type FinishedReason = 'stop' | 'length' | 'abort' | 'error';

export class FrontMetrics {
  private readonly registry = new Registry();
  /** What the front's /metrics shows: its own metrics and the load metrics of its process. */
  readonly exposed: Registry;
  private readonly running: Gauge;
  private readonly waiting: Gauge;
  private readonly promptTokens: Counter;
  private readonly generationTokens: Counter;
  private readonly success: Counter;
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly e2e: Histogram;

  constructor(private readonly model: string) {
    const registers = [this.registry];
    const labelNames = ['model_name'];
    this.running = new Gauge({ name: 'eaas:num_requests_running', help: 'Requests generating tokens (first token seen).', labelNames, registers });
    this.waiting = new Gauge({ name: 'eaas:num_requests_waiting', help: 'Requests sent to a gate and waiting for their first token.', labelNames, registers });
    this.promptTokens = new Counter({ name: 'eaas:prompt_tokens_total', help: 'Prompt tokens processed.', labelNames, registers });
    this.generationTokens = new Counter({ name: 'eaas:generation_tokens_total', help: 'Tokens generated.', labelNames, registers });
    this.success = new Counter({ name: 'eaas:request_success_total', help: 'Requests finished, by reason.', labelNames: ['model_name', 'finished_reason'], registers });
    this.ttft = new Histogram({ name: 'eaas:time_to_first_token_seconds', help: 'Time to first token.', labelNames, buckets: TTFT_BUCKETS, registers });
    this.itl = new Histogram({ name: 'eaas:inter_token_latency_seconds', help: 'Time between two tokens of a request.', labelNames, buckets: ITL_BUCKETS, registers });
    this.e2e = new Histogram({ name: 'eaas:e2e_request_latency_seconds', help: 'Request latency, end to end.', labelNames, buckets: E2E_BUCKETS, registers });
    for (const g of [this.running, this.waiting]) g.set({ model_name: model }, 0);
    this.exposed = Registry.merge([this.registry, loadRegistry]);
  }

  /** One generation (one choice) from send to finish; call the returned hooks as it goes. */
  track(promptTokens: number): { token(): void; finish(reason: FinishedReason): void } {
    const labels = { model_name: this.model };
    const started = performance.now();
    let last: number | undefined;
    let finished = false;
    this.waiting.inc(labels);
    this.promptTokens.inc(labels, promptTokens);
    return {
      token: () => {
        const now = performance.now();
        if (last === undefined) {
          this.ttft.observe(labels, (now - started) / 1000);
          this.waiting.dec(labels);
          this.running.inc(labels);
        } else this.itl.observe(labels, (now - last) / 1000);
        last = now;
        this.generationTokens.inc(labels);
      },
      finish: (reason) => {
        if (finished) return;
        finished = true;
        if (last === undefined) this.waiting.dec(labels);
        else this.running.dec(labels);
        this.success.inc({ ...labels, finished_reason: reason });
        this.e2e.observe(labels, (performance.now() - started) / 1000);
      },
    };
  }
}
