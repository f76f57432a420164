// The CLI's help text and its usage error.

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `eaas — Mixture-of-Experts serving with experts as stateless services over NATS

Usage:
  eaas up [--model DIR] [--name NAME] [--replicas R] [--experts-per-actor N] [--nats URL] [--nats-port P] [--http-port P] [--http-host H] [--cluster N] [--secure [--state DIR]] [--supervision FILE] [--strategy S] [--quantize int4|int8 [--quantize-dense]] [--wire-dtype f32|bf16|f16] [--autoscale [--placement-policy FILE]] [--api-key KEY ...]
  eaas up --monolithic [--model DIR] [--name NAME] [--nats URL] [--nats-port P] [--http-port P] [--http-host H] [--cluster N] [--secure [--state DIR]] [--quantize int4|int8 [--quantize-dense]]
  eaas node --nats URL[,URL...] --model DIR --role gate|supervisor|api|controller[,...] [--name NAME] [--experts SPEC] [--replicas R] [--experts-per-actor N] [--node-name NAME] [--http-port P] [--http-host H] [--creds FILE] [--tls-ca FILE] [--supervision FILE] [--strategy S] [--quantize int4|int8 [--quantize-dense]] [--wire-dtype f32|bf16|f16] [--autoscale] [--placement-policy FILE] [--api-key KEY ...]
  eaas retire --nats URL --instance NAME [--force] [--creds FILE] [--tls-ca FILE]
  eaas generate --monolithic --model DIR (--prompt-ids 1,2,3 | --prompt TEXT) --max-tokens N [--json] [--logits] [--no-eos] [--quantize int4|int8 [--quantize-dense]]
  eaas generate --nats URL [--name NAME] (--prompt-ids 1,2,3 | --prompt TEXT) --max-tokens N [--json] [--logits] [--no-eos] [--creds FILE] [--tls-ca FILE]
  eaas eval [--model DIR] [--file TEXT] [--context N] [--json] [--quantize int4|int8 [--quantize-dense]]
  eaas eval --nats URL [--model DIR] [--name NAME] [--file TEXT] [--context N] [--json] [--creds FILE] [--tls-ca FILE]
  eaas status --nats URL [--json] [--creds FILE] [--tls-ca FILE]
  eaas placement --nats URL [--name MODEL] [--json] [--creds FILE] [--tls-ca FILE]
  eaas dashboard --nats URL [--name MODEL] [--http-port P] [--http-host H] [--api-key KEY ...] [--creds FILE] [--tls-ca FILE]
  eaas hosts [--model DIR] [--name NAME] [--expert-hosts N] [--replicas R] [--experts-per-actor N] [--delay MS] [--rate MBIT] [--http-port P] [--quantize int4|int8 [--quantize-dense]] [--wire-dtype f32|bf16|f16]
  eaas simulate [--experiment default|throughput|failures|day|all] [--hosts N] [--seed N] [--profile FILE] [--trace FILE] [--out DIR]
  eaas model init DIR [--family mixtral|qwen2_moe|qwen3_moe|olmoe|deepseek_v3] [--preset tiny|bench|olmoe-1b-7b|mixtral-8x7b-4l] [--seed N] [--dtype f32|bf16|f16] [--shards N] [--skew S]
  eaas secure init DIR --model NAME [--hosts H,...]

Common flags: --verbose (stack traces on errors), --help; eaas COMMAND --help lists that command's flags and defaults; eaas --version prints the version.
Where a command runs an HTTP front, --port and --host stand for --http-port and --http-host.
Every flag can also come from an environment variable EAAS_<FLAG> (e.g. EAAS_NATS, EAAS_REPLICAS).`;
