// A small builder for ONNX graphs in memory, serialised with the onnx-proto schema.
import onnxProto from 'onnx-proto';
import { QUANT_ACCURACY_LEVEL, QUANT_BLOCK_SIZE, quantizeBlockwise, type QuantBits } from './quantize.js';

const { onnx } = onnxProto;

const OPSET = 17;
/** ONNX Runtime's contrib operators (MatMulNBits). */
const MS_DOMAIN = 'com.microsoft';
const MS_OPSET = 1;
const IR_VERSION = 8;

/** A dimension: a fixed size or a symbolic name such as "tokens". */
export type Dim = number | string;
type AttrValue = number | number[] | string;

const ELEM_TYPE = { float: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64, uint8: onnx.TensorProto.DataType.UINT8 } as const;
export type ElemType = keyof typeof ELEM_TYPE;

function valueInfo(name: string, elem: ElemType, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE[elem],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: T.INT, i: value };
  return { name, type: T.FLOAT, f: value };
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;
  private usesContribOps = false;

  constructor(private readonly name: string) {}

  input(name: string, elem: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }

  output(value: string, name: string, elem: ElemType, dims: Dim[]): void {
    this.nodes.push({ opType: 'Identity', input: [value], output: [name] });
    this.outputs.push(valueInfo(name, elem, dims));
  }

  /** A float32 constant; the bytes are referenced, not copied, until serialisation. */
  floats(name: string, dims: number[], data: Float32Array): string {
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name, dims, dataType: ELEM_TYPE.float, rawData: raw });
    return name;
  }

  /** A uint8 constant, referenced as floats() are. */
  bytes(name: string, dims: number[], data: Uint8Array): string {
    this.initializers.push({ name, dims, dataType: ELEM_TYPE.uint8, rawData: data });
    return name;
  }

  ints(name: string, data: number[]): string {
    const raw = new Uint8Array(new BigInt64Array(data.map(BigInt)).buffer);
    this.initializers.push({ name, dims: [data.length], dataType: ELEM_TYPE.int64, rawData: raw });
    return name;
  }

  scalar(name: string, value: number): string {
    this.initializers.push({ name, dims: [], dataType: ELEM_TYPE.float, rawData: new Uint8Array(new Float32Array([value]).buffer) });
    return name;
  }

  /** Adds a node (of ONNX, or of `domain`) and returns its (first) output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputCount = 1, domain?: string): string {
    const base = `${opType.toLowerCase()}_${this.counter++}`;
    const output = Array.from({ length: outputCount }, (_, i) => (i === 0 ? base : `${base}_${i}`));
    const attribute_ = Object.entries(attrs).map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType, input: inputs, output, attribute: attribute_, name: base, ...(domain ? { domain } : {}) });
    if (domain === MS_DOMAIN) this.usesContribOps = true;
    return base;
  }

  /**
   * x · Wᵀ for a Hugging Face Linear weight W of shape [out, in]; ORT folds the transpose at load. With `bits`,
   * W is quantized here in blocks along `in` and multiplied by MatMulNBits at accuracy level 4.
   */
  linear(x: string, weightName: string, out: number, inp: number, weight: Float32Array, bits?: QuantBits): string {
    if (bits !== undefined) return this.quantizedLinear(x, weightName, out, inp, weight, bits);
    const w = this.floats(weightName, [out, inp], weight);
    return this.op('MatMul', [x, this.op('Transpose', [w], { perm: [1, 0] })]);
  }

  private quantizedLinear(x: string, weightName: string, out: number, inp: number, weight: Float32Array, bits: QuantBits): string {
    const q = quantizeBlockwise(weight, out, inp, bits);
    const b = this.bytes(`${weightName}.q`, [out, q.kBlocks, q.blobSize], q.packed);
    const scales = this.floats(`${weightName}.scales`, [out * q.kBlocks], q.scales);
    const attrs = { K: inp, N: out, bits, block_size: QUANT_BLOCK_SIZE, accuracy_level: QUANT_ACCURACY_LEVEL };
    if (bits !== 4) return this.op('MatMulNBits', [x, b, scales], attrs, 1, MS_DOMAIN);
    // ONNX Runtime's 4-bit kernel computes a single row on another path whose bits differ from the batched one on
    // some CPUs (seen on an AMD EPYC with AVX-512 VNNI): a zero row appended keeps every run batched, so a row gives
    // the same bits alone and in any batch; the extra row is dropped after.
    const zero = this.shared(`nbits.pad.${inp}`, () => this.floats(`nbits.pad.${inp}`, [1, inp], new Float32Array(inp)));
    const y = this.op('MatMulNBits', [this.op('Concat', [x, zero], { axis: 0 }), b, scales], attrs, 1, MS_DOMAIN);
    const start = this.shared('nbits.pad.start', () => this.ints('nbits.pad.start', [0]));
    const end = this.shared('nbits.pad.end', () => this.ints('nbits.pad.end', [-1]));
    return this.op('Slice', [y, start, end, start]);
  }

  /** A constant made once and referenced by name by every node that uses it. */
  private shared(name: string, make: () => string): string {
    return this.initializers.some((t) => t.name === name) ? name : make();
  }

  /** Mixtral's RMSNorm: w · x / sqrt(mean(x²) + eps), over the last axis. */
  rmsNorm(x: string, weightName: string, weight: Float32Array, eps: number): string {
    const w = this.floats(weightName, [weight.length], weight);
    const meanSq = this.op('ReduceMean', [this.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const denom = this.op('Sqrt', [this.op('Add', [meanSq, this.scalar(`${weightName}.eps`, eps)])]);
    return this.op('Mul', [this.op('Div', [x, denom]), w]);
  }

  toBytes(): Uint8Array {
    const graph = {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
    const opsetImport = [{ domain: '', version: OPSET }, ...(this.usesContribOps ? [{ domain: MS_DOMAIN, version: MS_OPSET }] : [])];
    const model = { irVersion: IR_VERSION, opsetImport, producerName: 'eaas', graph };
    return onnx.ModelProto.encode(model).finish();
  }
}
