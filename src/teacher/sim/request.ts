/**
 * Validation of a chat-completions request body into what the simulated teacher uses: text, images
 * (data URLs only: it has no network and reads no files), and the sampling parameters. Every problem
 * becomes an ApiError with OpenAI's error shape and a message that says where in the body it is.
 */

export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'rate_limit_error' | 'server_error' | 'requests' | 'tokens' | 'not_found_error';

/** An HTTP error response in OpenAI's shape: `{error: {message, type, param, code}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

const bad = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, 'invalid_request_error', code, param);

export type ImageMime = 'image/png' | 'image/jpeg' | 'image/webp';

export interface RequestImage {
  bytes: Buffer;
  mime: ImageMime;
  /** Where it sat in the body, e.g. `messages[0].content[2]`, for error messages. */
  where: string;
}

export interface ChatRequest {
  model: string;
  n: number;
  temperature: number;
  maxTokens: number | null;
  seed: number | null;
  /** Text of every message, in order. */
  texts: string[];
  /** Images in the order they appear: the first is "the first image". */
  images: RequestImage[];
  messageCount: number;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const MAX_N = 128;
const DATA_URL = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)(?:;[a-z0-9=._-]+)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function parseChatRequest(raw: unknown): ChatRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('The request body must be a JSON object.');
  const body = raw as Record<string, unknown>;
  if (typeof body.model !== 'string' || body.model.trim() === '') throw bad('you must provide a model parameter', 'model', 'missing_required_parameter');
  if (body.stream === true) throw bad('stream=true is not supported by the simulated teacher; send stream=false.', 'stream', 'unsupported_value');
  if (body.messages === undefined || body.messages === null) throw bad("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  if (!Array.isArray(body.messages)) throw bad(`Invalid type for 'messages': expected an array, but got ${typeOf(body.messages)} instead.`, 'messages', 'invalid_type');
  if (body.messages.length === 0) throw bad("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');

  const texts: string[] = [];
  const images: RequestImage[] = [];
  body.messages.forEach((m: unknown, i: number) => {
    const at = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad(`Invalid type for '${at}': expected an object, but got ${typeOf(m)} instead.`, at, 'invalid_type');
    const msg = m as Record<string, unknown>;
    if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) {
      throw bad(`Invalid value for '${at}.role': ${JSON.stringify(msg.role ?? null)}. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.`, `${at}.role`, 'invalid_value');
    }
    const content = msg.content;
    if (typeof content === 'string') {
      texts.push(content);
      return;
    }
    if ((content === null || content === undefined) && msg.role === 'assistant') return;
    if (!Array.isArray(content)) throw bad(`Invalid type for '${at}.content': expected a string or an array of content parts, but got ${typeOf(content)} instead.`, `${at}.content`, 'invalid_type');
    content.forEach((p: unknown, j: number) => {
      const pat = `${at}.content[${j}]`;
      if (typeof p !== 'object' || p === null) throw bad(`Invalid type for '${pat}': expected an object, but got ${typeOf(p)} instead.`, pat, 'invalid_type');
      const part = p as Record<string, unknown>;
      if (part.type === 'text') {
        if (typeof part.text !== 'string') throw bad(`Invalid type for '${pat}.text': expected a string, but got ${typeOf(part.text)} instead.`, `${pat}.text`, 'invalid_type');
        texts.push(part.text);
      } else if (part.type === 'image_url') {
        const iu = part.image_url as Record<string, unknown> | undefined;
        const url = typeof iu === 'object' && iu !== null ? iu.url : undefined;
        if (typeof url !== 'string') throw bad(`Missing required parameter: '${pat}.image_url.url'.`, `${pat}.image_url.url`, 'missing_required_parameter');
        images.push(decodeDataUrl(url, pat));
      } else {
        throw bad(`Invalid value: ${JSON.stringify(part.type ?? null)}. Supported values are: 'text' and 'image_url'.`, `${pat}.type`, 'invalid_value');
      }
    });
  });

  const n = optionalInt(body.n, 'n', 1, MAX_N) ?? 1;
  const temperature = optionalNumber(body.temperature, 'temperature', 0, 2) ?? 1;
  const maxTokens = optionalInt(body.max_completion_tokens, 'max_completion_tokens', 1, 1_000_000) ?? optionalInt(body.max_tokens, 'max_tokens', 1, 1_000_000);
  const seed = optionalInt(body.seed, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  return { model: body.model, n, temperature, maxTokens, seed, texts, images, messageCount: body.messages.length };
}

function decodeDataUrl(url: string, where: string): RequestImage {
  const m = DATA_URL.exec(url);
  if (!m) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    throw bad(
      scheme && scheme.toLowerCase() !== 'data'
        ? `Invalid image URL at '${where}.image_url.url': the simulated teacher accepts only base64 data: URLs (it has no network access), got a ${scheme}: URL.`
        : `Invalid image URL at '${where}.image_url.url': expected data:image/png;base64,... or data:image/jpeg;base64,...`,
      `${where}.image_url.url`,
      'invalid_image_url',
    );
  }
  const mime = m[1]!.toLowerCase();
  const norm: ImageMime | null = mime === 'image/png' ? 'image/png' : mime === 'image/jpeg' || mime === 'image/jpg' ? 'image/jpeg' : mime === 'image/webp' ? 'image/webp' : null;
  if (!norm) throw bad(`Invalid image at '${where}': unsupported MIME type ${JSON.stringify(mime)}; use image/png or image/jpeg (image/webp is also accepted).`, `${where}.image_url.url`, 'invalid_image_format');
  const b64 = url.slice(m[0].length).replace(/\s+/g, '');
  if (b64.length === 0 || !BASE64.test(b64)) throw bad(`Invalid image at '${where}': the data URL is not valid base64.`, `${where}.image_url.url`, 'invalid_image_format');
  const bytes = Buffer.from(b64, 'base64');
  const png = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  const webp = bytes.length > 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP';
  if (!png && !jpeg && !webp) throw bad(`Invalid image at '${where}': the bytes are neither PNG nor JPEG.`, `${where}.image_url.url`, 'invalid_image_format');
  return { bytes, mime: png ? 'image/png' : jpeg ? 'image/jpeg' : 'image/webp', where };
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function optionalNumber(v: unknown, name: string, lo: number, hi: number): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`Invalid type for '${name}': expected a number, but got ${typeOf(v)} instead.`, name, 'invalid_type');
  if (v < lo || v > hi) throw bad(`Invalid '${name}': ${v} is out of range; expected a value from ${lo} to ${hi}.`, name, 'invalid_value');
  return v;
}

function optionalInt(v: unknown, name: string, lo: number, hi: number): number | null {
  const x = optionalNumber(v, name, lo, hi);
  if (x !== null && !Number.isInteger(x)) throw bad(`Invalid type for '${name}': expected an integer, but got ${x} instead.`, name, 'invalid_type');
  return x;
}
