package io.flinklora.schemas.codec;

import java.util.IdentityHashMap;
import java.util.Map;
import org.apache.avro.Schema;

/**
 * Walks an Avro binary body against its writer schema without allocating anything, to reject bodies
 * whose declared lengths or counts cannot fit in the bytes that are actually there.
 *
 * <p>Why: Avro's decoder allocates a string/bytes buffer or an array by its declared length before
 * reading the data, and its only guard ({@code org.apache.avro.limits.*}, read once when {@code
 * SystemLimitException} is initialised) defaults to about 2^31, so a 20-byte record can ask for
 * gigabytes. After this check every allocation the decoder makes is bounded by the record's size.
 */
final class AvroBounds {

    /** Deeper nesting than this (only possible with recursive schemas) is treated as hostile. */
    private static final int MAX_DEPTH = 64;

    private final byte[] buf;
    private final Map<Schema, Integer> minSizes = new IdentityHashMap<>();
    private int pos;

    private AvroBounds(byte[] buf, int pos) {
        this.buf = buf;
        this.pos = pos;
    }

    /**
     * Checks that buf[offset..] is exactly one datum of the writer schema, with plausible lengths
     * throughout.
     */
    static void check(byte[] buf, int offset, Schema writer) throws DecodeException {
        AvroBounds walker = new AvroBounds(buf, offset);
        walker.walk(writer, 0);
        if (walker.pos != buf.length) {
            throw malformed(
                    (buf.length - walker.pos)
                            + " trailing bytes after the "
                            + writer.getName()
                            + " record");
        }
    }

    private void walk(Schema s, int depth) throws DecodeException {
        if (depth > MAX_DEPTH) {
            throw malformed("nesting deeper than " + MAX_DEPTH);
        }
        switch (s.getType()) {
            case NULL:
                break;
            case BOOLEAN:
                skip(1, "boolean");
                break;
            case INT:
            case LONG:
                readLong();
                break;
            case FLOAT:
                skip(4, "float");
                break;
            case DOUBLE:
                skip(8, "double");
                break;
            case STRING:
            case BYTES:
                skipLengthPrefixed(s.getType() == Schema.Type.STRING ? "string" : "bytes");
                break;
            case FIXED:
                skip(s.getFixedSize(), "fixed");
                break;
            case ENUM:
                {
                    long index = readLong();
                    if (index < 0 || index >= s.getEnumSymbols().size()) {
                        throw malformed(
                                "enum index " + index + " out of range for " + s.getFullName());
                    }
                    break;
                }
            case UNION:
                {
                    long index = readLong();
                    if (index < 0 || index >= s.getTypes().size()) {
                        throw malformed("union branch " + index + " out of range");
                    }
                    walk(s.getTypes().get((int) index), depth + 1);
                    break;
                }
            case RECORD:
                for (Schema.Field f : s.getFields()) {
                    walk(f.schema(), depth + 1);
                }
                break;
            case ARRAY:
                walkBlocks(s.getElementType(), null, depth);
                break;
            case MAP:
                walkBlocks(s.getValueType(), Schema.create(Schema.Type.STRING), depth);
                break;
            default:
                throw malformed("unsupported schema type " + s.getType());
        }
    }

    /** Arrays and maps: blocks of (count, [byte size], items) ending with a zero count. */
    private void walkBlocks(Schema item, Schema key, int depth) throws DecodeException {
        int itemMin = minSize(item) + (key == null ? 0 : 1);
        long total = 0;
        while (true) {
            long count = readLong();
            if (count == 0) {
                return;
            }
            if (count < 0) {
                if (count == Long.MIN_VALUE) {
                    throw malformed("invalid block count");
                }
                count = -count;
                long size = readLong();
                if (size < 0 || size > remaining()) {
                    throw malformed(
                            "block size " + size + " exceeds the " + remaining() + " bytes left");
                }
            }
            total += count;
            // Items that take no bytes (nulls) could still make the decoder allocate by count: cap
            // by record size.
            long limit = itemMin > 0 ? remaining() / itemMin : buf.length;
            if (count > limit || total > buf.length) {
                throw malformed(
                        "collection declares "
                                + count
                                + " items but only "
                                + remaining()
                                + " bytes are left");
            }
            for (long i = 0; i < count; i++) {
                if (key != null) {
                    skipLengthPrefixed("map key");
                }
                walk(item, depth + 1);
            }
        }
    }

    private int minSize(Schema s) {
        Integer known = minSizes.get(s);
        if (known != null) {
            return known;
        }
        minSizes.put(s, 0); // a recursive reference counts as 0: only loosens the bound
        int size;
        switch (s.getType()) {
            case NULL:
                size = 0;
                break;
            case FLOAT:
                size = 4;
                break;
            case DOUBLE:
                size = 8;
                break;
            case FIXED:
                size = s.getFixedSize();
                break;
            case RECORD:
                {
                    long sum = 0;
                    for (Schema.Field f : s.getFields()) {
                        sum += minSize(f.schema());
                    }
                    size = (int) Math.min(sum, Integer.MAX_VALUE);
                    break;
                }
            default:
                size = 1; // every other type starts with at least one varint or byte
                break;
        }
        minSizes.put(s, size);
        return size;
    }

    private void skipLengthPrefixed(String what) throws DecodeException {
        long len = readLong();
        if (len < 0) {
            throw malformed("negative " + what + " length " + len);
        }
        skip(len, what);
    }

    private void skip(long n, String what) throws DecodeException {
        if (n > remaining()) {
            throw malformed(
                    what + " of " + n + " bytes but only " + remaining() + " bytes are left");
        }
        pos += (int) n;
    }

    private int remaining() {
        return buf.length - pos;
    }

    /** Zig-zag varint, as Avro writes int and long. */
    private long readLong() throws DecodeException {
        long raw = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= buf.length) {
                throw malformed("truncated: the body ends inside a number");
            }
            int b = buf[pos++] & 0xFF;
            raw |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                return (raw >>> 1) ^ -(raw & 1);
            }
        }
        throw malformed("varint longer than 10 bytes");
    }

    private static DecodeException malformed(String detail) {
        return new DecodeException(
                DecodeException.MALFORMED_INPUT, "corrupt Avro body: " + detail, null);
    }
}
