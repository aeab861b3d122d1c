/**
 * Layers are gzipped in 1 MiB pieces, several at once on libuv's thread pool, each piece a gzip
 * member of its own (a multi-member gzip stream, which docker, containerd and every gzip reader
 * take as one). A piece whose sample does not shrink (random, media, already-compressed data) is
 * stored (level 0) instead of deflated: deflating it costs the CPU time of a full pass and saves
 * nothing. The output depends only on the layer's bytes, so the same layer gives the same blob.
 */
import { promisify } from 'node:util';
import { crc32, deflateRawSync, gzip as gzipCallback } from 'node:zlib';

const gzip = promisify(gzipCallback);

const MiB = 1024 * 1024;
/** Bytes per gzip member: large enough for deflate's window, small enough to spread over cores. */
export const PIECE_BYTES = 1 * MiB;
/** Pieces compressed at once: libuv's pool has 4 threads; more would only hold memory. */
const PIECES_IN_FLIGHT = 4;
const SAMPLE_BYTES = 16 * 1024;
/** Deflate level for data that compresses: docker's own (Go's default, 6). */
const LEVEL = 6;
/** Level 0 (stored) when a sample of the piece does not shrink by 3 %, else `LEVEL`. */
export function levelFor(piece: Buffer): number {
  const sample = piece.subarray(0, SAMPLE_BYTES);
  if (sample.length === 0) return LEVEL;
  return deflateRawSync(sample, { level: 1 }).length > sample.length * 0.97 ? 0 : LEVEL;
}

/** gzip header: deflate, no name, mtime 0, unix (as zlib writes it, so the bytes never vary). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
const STORED_BLOCK = 65_535;

/**
 * A gzip member holding `data` in stored deflate blocks, framed here rather than by zlib: the
 * data is copied once, and nothing waits for the thread pool.
 */
export function storedGzip(data: Buffer): Buffer {
  const parts: Buffer[] = [GZIP_HEADER];
  for (let at = 0; ; at += STORED_BLOCK) {
    const block = data.subarray(at, at + STORED_BLOCK);
    const head = Buffer.alloc(5);
    head[0] = at + STORED_BLOCK >= data.length ? 1 : 0; // BFINAL on the last block, BTYPE 00
    head.writeUInt16LE(block.length, 1);
    head.writeUInt16LE(~block.length & 0xffff, 3);
    parts.push(head, block);
    if (head[0] === 1) break;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  parts.push(trailer);
  return Buffer.concat(parts);
}

/** Splits `source` into `PIECE_BYTES` pieces. */
async function* pieces(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    let c = chunk;
    while (size + c.length >= PIECE_BYTES) {
      const take = PIECE_BYTES - size;
      parts.push(c.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      size = 0;
      c = c.subarray(take);
    }
    if (c.length) {
      parts.push(c);
      size += c.length;
    }
  }
  if (size > 0 || parts.length) yield Buffer.concat(parts);
}

/** gzip of `source` as a multi-member stream, pieces compressed side by side, in order. */
export async function* gzipPieces(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const queue: Promise<Buffer>[] = [];
  let any = false;
  for await (const piece of pieces(source)) {
    any = true;
    const level = levelFor(piece);
    const p = level === 0 ? Promise.resolve(storedGzip(piece)) : gzip(piece, { level });
    p.catch(() => undefined); // awaited in order below
    queue.push(p);
    if (queue.length >= PIECES_IN_FLIGHT) yield await queue.shift()!;
  }
  // An empty layer still needs a valid (empty) gzip stream.
  if (!any) queue.push(gzip(Buffer.alloc(0), { level: LEVEL }));
  while (queue.length) yield await queue.shift()!;
}
