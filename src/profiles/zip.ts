import { crc32, inflateRawSync } from 'node:zlib';

/**
 * A bounded reader of the zip archives NumPy writes (.npz): the central directory is read first,
 * every member's declared size is checked against the caps before anything is inflated, inflating
 * stops at the declared size, and each member's CRC-32 must match. Stored and deflated members;
 * no zip64, no encryption. Throws plain Errors with a short reason.
 */
export interface ZipCaps {
  /** largest uncompressed member, bytes */
  maxMemberBytes: number;
  /** largest sum of the uncompressed members, bytes */
  maxTotalBytes: number;
  /** most members */
  maxMembers: number;
}

interface CentralEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

function findEndRecord(view: DataView): number {
  const min = Math.max(0, view.byteLength - 22 - 0xffff);
  for (let i = view.byteLength - 22; i >= min; i--) if (view.getUint32(i, true) === EOCD_SIG) return i;
  throw new Error('invalid zip data (no end-of-archive record: truncated or not a zip)');
}

function centralDirectory(bytes: Uint8Array, caps: ZipCaps): CentralEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 22) throw new Error('invalid zip data (too short)');
  const end = findEndRecord(view);
  const count = view.getUint16(end + 10, true);
  const cdSize = view.getUint32(end + 12, true);
  const cdOffset = view.getUint32(end + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff) throw new Error('zip64 archives are not supported');
  if (count > caps.maxMembers) throw new Error(`${count} members, more than the limit of ${caps.maxMembers}`);
  if (cdOffset + cdSize > end) throw new Error('invalid zip data (central directory out of range)');
  const out: CentralEntry[] = [];
  let p = cdOffset;
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > end || view.getUint32(p, true) !== CEN_SIG) throw new Error('invalid zip data (bad central directory entry)');
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    if (p + 46 + nameLen > end) throw new Error('invalid zip data (bad central directory entry)');
    const e: CentralEntry = {
      flags: view.getUint16(p + 8, true),
      method: view.getUint16(p + 10, true),
      crc: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      localOffset: view.getUint32(p + 42, true),
      name: new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen)),
    };
    if (e.size === 0xffffffff || e.compressedSize === 0xffffffff || e.localOffset === 0xffffffff) throw new Error('zip64 archives are not supported');
    if (e.flags & 1) throw new Error(`member '${e.name}' is encrypted`);
    if (e.method !== 0 && e.method !== 8) throw new Error(`member '${e.name}' uses compression method ${e.method} (only stored and deflate are read)`);
    if (e.size > caps.maxMemberBytes) throw new Error(`member '${e.name}' would inflate to ${e.size} bytes, more than the limit of ${caps.maxMemberBytes}`);
    total += e.size;
    if (total > caps.maxTotalBytes) throw new Error(`the members would inflate to more than the limit of ${caps.maxTotalBytes} bytes`);
    out.push(e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

function memberData(bytes: Uint8Array, e: CentralEntry): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const p = e.localOffset;
  if (p + 30 > bytes.length || view.getUint32(p, true) !== LOC_SIG) throw new Error(`invalid zip data (member '${e.name}' has no local header)`);
  const start = p + 30 + view.getUint16(p + 26, true) + view.getUint16(p + 28, true);
  if (start + e.compressedSize > bytes.length) throw new Error(`invalid zip data (member '${e.name}' is truncated)`);
  const raw = bytes.subarray(start, start + e.compressedSize);
  let data: Uint8Array;
  if (e.method === 0) {
    if (e.compressedSize !== e.size) throw new Error(`invalid zip data (stored member '${e.name}' has two sizes)`);
    data = raw;
  } else {
    try {
      data = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(code === 'ERR_BUFFER_TOO_LARGE'
        ? `member '${e.name}' inflates to more than its declared ${e.size} bytes`
        : `invalid zip data (member '${e.name}': ${(err as Error).message})`);
    }
    if (data.length !== e.size) throw new Error(`member '${e.name}' inflates to ${data.length} bytes, not its declared ${e.size}`);
  }
  if (crc32(data) >>> 0 !== e.crc) throw new Error(`member '${e.name}' fails its CRC-32 check (the file is corrupted)`);
  return data;
}

/** The members of a zip archive, name → bytes, each size-checked before inflating and CRC-checked. */
export function readZip(bytes: Uint8Array, caps: ZipCaps): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const e of centralDirectory(bytes, caps)) {
    if (out.has(e.name)) throw new Error(`member '${e.name}' appears twice`);
    out.set(e.name, memberData(bytes, e));
  }
  return out;
}
