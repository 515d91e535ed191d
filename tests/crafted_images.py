"""Image files an attacker could send, built byte by byte for the tests."""
import struct
import zlib


def png_declaring(w, h, color_type=2):
    """A well-formed PNG (valid CRCs) whose header claims ``w`` x ``h`` pixels (RGB by default, 6: RGBA);
    its data holds one short row."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', w, h, 8, color_type, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\x00' * 193))
            + chunk(b'IEND', b''))
