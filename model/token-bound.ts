// How much text one token can stand for, read from tokenizer.json: a lower bound of a text's token count
// from its length alone, so a prompt that cannot fit the model's positions is refused before it is tokenized.

type Json = Record<string, unknown>;

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;
// A composed character stands for up to 4 code points (UAX #15: NFD expands at most 4x), and a supplementary
// character (2 code units) may normalize to one BMP character: a normalization form shrinks text at most 4x.
const UNICODE_FORM_SHRINK = 4;
// An unknown token stands for one code point, which is up to 2 UTF-16 code units.
const UNKNOWN_TOKEN_SPAN = 2;

/**
 * The most UTF-16 code units of input text one token can stand for, or Infinity when the tokenizer can drop
 * or merge text without bound (whitespace splitters, stripping, fused unknown tokens, WordPiece and Unigram
 * models): then no lower bound holds but 0.
 */
export function longestTokenSpan(tokenizerJson: Json, config: Json, vocab: Iterable<string>): number {
  const model = (tokenizerJson.model ?? {}) as Json;
  // WordPiece turns a long word into one [UNK], Unigram fuses unknown runs: neither bounds a token's text
  if (model.type !== 'BPE' || (model.fuse_unk === true && model.unk_token != null)) return Infinity;
  const added = (Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : []) as Json[];
  // an added token that strips the whitespace beside it swallows any run of spaces
  if (added.some((t) => t.lstrip === true || t.rstrip === true)) return Infinity;
  if (config.remove_space === true || config.do_lowercase_and_remove_accent === true) return Infinity;
  const shrink = normalizerShrink(tokenizerJson.normalizer as Json | null | undefined) * preTokenizerShrink(tokenizerJson.pre_tokenizer as Json | null | undefined);
  if (shrink === Infinity) return Infinity;
  // a token's string has a character per byte (byte-level BPE), per character (SentencePiece style) or more
  // (prefixes, suffixes, <0xNN> byte tokens that stand for one byte): its length bounds the text it stands for
  let longest = UNKNOWN_TOKEN_SPAN;
  for (const token of vocab) longest = Math.max(longest, BYTE_TOKEN.test(token) ? 1 : token.length);
  return longest * shrink;
}

/** The fewest tokens a text of this many code units can encode to, special tokens aside. */
export function minTokensFor(textLength: number, span: number): number {
  return span === Infinity ? 0 : Math.ceil(textLength / span);
}

// How many times shorter a normalizer can make text: 1 for those that only keep or lengthen it.
function normalizerShrink(n: Json | null | undefined): number {
  if (!n) return 1;
  switch (n.type) {
    case 'Sequence':
      return ((n.normalizers ?? []) as Json[]).reduce((a, x) => a * normalizerShrink(x), 1);
    case 'Prepend':
    case 'Lowercase':
      return 1;
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return UNICODE_FORM_SHRINK;
    case 'Replace':
      return replaceShrink(n);
    default:
      // Strip, StripAccents, BertNormalizer, Precompiled (SentencePiece's) may drop characters
      return Infinity;
  }
}

// How many times shorter a pre-tokenizer can make text: those that only split keep every character.
function preTokenizerShrink(p: Json | null | undefined): number {
  if (!p) return 1;
  switch (p.type) {
    case 'Sequence':
      return ((p.pretokenizers ?? []) as Json[]).reduce((a, x) => a * preTokenizerShrink(x), 1);
    case 'ByteLevel':
    case 'Metaspace':
    case 'Digits':
    case 'UnicodeScripts':
    case 'FixedLength':
      return 1;
    case 'Split':
    case 'Punctuation':
      return p.behavior === 'Removed' ? Infinity : 1;
    case 'Replace':
      return replaceShrink(p);
    default:
      // Whitespace, WhitespaceSplit, BertPreTokenizer, CharDelimiterSplit drop their delimiters
      return Infinity;
  }
}

// A literal replacement that is not shorter than what it replaces keeps the length (Mistral's " " -> "▁").
function replaceShrink(r: Json): number {
  const pattern = (r.pattern ?? {}) as Json;
  const content = typeof r.content === 'string' ? r.content : '';
  return typeof pattern.String === 'string' && pattern.String.length > 0 && content.length >= pattern.String.length ? 1 : Infinity;
}
