package io.flinklora.gpu.safetensors;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Crafted files: each must fail with a SafetensorsException naming the file and the culprit. */
class SafetensorsHostileInputTest {

    @TempDir Path tmp;
    private int counter;

    private Path file(byte[] bytes) throws Exception {
        Path p = tmp.resolve("hostile-" + (counter++) + ".safetensors");
        Files.write(p, bytes);
        return p;
    }

    /** 8-byte LE {@code declaredLength}, then {@code rest}. */
    private static byte[] raw(long declaredLength, byte[] rest) {
        return ByteBuffer.allocate(8 + rest.length)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(declaredLength)
                .put(rest)
                .array();
    }

    /** A well-formed frame around {@code headerJson} followed by {@code dataBytes} zero bytes. */
    private static byte[] withHeader(byte[] header, int dataBytes) {
        byte[] rest = new byte[header.length + dataBytes];
        System.arraycopy(header, 0, rest, 0, header.length);
        return raw(header.length, rest);
    }

    private static byte[] withHeader(String headerJson, int dataBytes) {
        return withHeader(headerJson.getBytes(StandardCharsets.UTF_8), dataBytes);
    }

    /** Opens {@code p} expecting refusal; the message must name the file and every fragment. */
    private static SafetensorsException rejected(Path p, String... fragments) {
        SafetensorsException e =
                assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close());
        String msg = e.getMessage();
        assertTrue(
                msg.contains(p.getFileName().toString()), "message should name the file: " + msg);
        for (String f : fragments) {
            assertTrue(msg.contains(f), "message should contain '" + f + "': " + msg);
        }
        return e;
    }

    private void rejected(byte[] bytes, String... fragments) throws Exception {
        rejected(file(bytes), fragments);
    }

    @Test
    void fileShorterThan8BytesIsRefused() throws Exception {
        rejected(new byte[0], "shorter than");
        rejected(new byte[] {2, 0, 0, 0, 0}, "5 bytes", "shorter than");
    }

    @Test
    void zeroHeaderLengthIsRefused() throws Exception {
        rejected(raw(0, new byte[16]), "header length is 0");
    }

    @ParameterizedTest
    @ValueSource(
            longs = {
                Long.MAX_VALUE,
                1_000_000_000_000L,
                -1L /* 2^64-1 unsigned */,
                Long.MIN_VALUE,
                3
            })
    void headerLengthBeyondTheFileIsRefusedWithoutAllocatingIt(long declared) throws Exception {
        rejected(
                raw(declared, "{}".getBytes(StandardCharsets.US_ASCII)),
                "header length " + Long.toUnsignedString(declared),
                "exceeds the file");
    }

    @Test
    void headerLengthAboveTheCapIsRefusedEvenWhenTheFileIsThatLarge() throws Exception {
        Path p = tmp.resolve("sparse.safetensors");
        long declared = SafetensorsFile.MAX_HEADER_BYTES + 1;
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.write(raw(declared, new byte[0]));
            f.setLength(declared + 1024); // sparse: costs no disk
        }
        rejected(p, "header length " + declared, "cap");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "[]",
                "\"tensors\"",
                "42",
                "null",
                "{not json",
                "{\"a\":",
                "{} trailing",
                "{}{}"
            })
    void headerThatIsNotOneJsonObjectIsRefused(String header) throws Exception {
        rejected(withHeader(header, 0), "header is not");
    }

    @Test
    void headerThatIsNotUtf8IsRefused() throws Exception {
        byte[] h = "{\"__metadata__\":{\"k\":\"xx\"}}".getBytes(StandardCharsets.US_ASCII);
        h[22] = (byte) 0xff;
        h[23] = (byte) 0xfe;
        rejected(withHeader(h, 0), "not valid UTF-8");
    }

    @Test
    void duplicateTensorNamesAreRefused() throws Exception {
        String e = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
        rejected(withHeader("{\"t\":" + e + ",\"t\":" + e + "}", 1), "Duplicate field 't'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"dtype", "shape", "data_offsets"})
    void entryMissingARequiredFieldIsRefused(String missing) throws Exception {
        String entry =
                "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"
                        .replaceAll("\"" + missing + "\":(\"[^\"]*\"|\\[[^]]*\\]),?", "")
                        .replace(",}", "}");
        rejected(
                withHeader("{\"w.weight\":" + entry + "}", 4),
                "tensor 'w.weight'",
                "missing field '" + missing + "'");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}|'dtype' must be a string",
                "{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}|'shape' must be an array",
                "{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}|'shape'[0] must be an integer",
                "{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}|'shape'[0] must be an integer",
                "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}|'data_offsets' must be an array of 2",
                "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":0}}|'data_offsets' must be an array of 2",
                "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}|'data_offsets'[1] must be an integer",
                "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4e0]}|'data_offsets'[1] must be an integer",
                "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551620]}|'data_offsets'[1] must be a non-negative 64-bit",
                "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}|'data_offsets'[0] must be a non-negative",
                "[\"F32\",[1],[0,4]]|entry must be a JSON object",
            })
    void entryWithWrongJsonTypesIsRefused(String caseAndMessage) throws Exception {
        String[] parts = caseAndMessage.split("\\|");
        rejected(withHeader("{\"w.weight\":" + parts[0] + "}", 4), "tensor 'w.weight'", parts[1]);
    }

    @Test
    void metadataWithNonStringValuesIsRefused() throws Exception {
        rejected(withHeader("{\"__metadata__\":{\"total\":5}}", 0), "'__metadata__'", "'total'");
        rejected(withHeader("{\"__metadata__\":[\"a\"]}", 0), "'__metadata__'");
    }

    @Test
    void unknownDtypeIsRefusedNamingIt() throws Exception {
        rejected(
                withHeader(
                        "{\"w\":{\"dtype\":\"F8_E9M9\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
                "tensor 'w'",
                "unknown safetensors dtype 'F8_E9M9'");
        rejected(
                withHeader("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                "'f32'");
    }

    @Test
    void negativeDimensionIsRefused() throws Exception {
        rejected(
                withHeader(
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}", 16),
                "tensor 'w'",
                "'shape'[1] must be a non-negative");
    }

    @Test
    void shapeWhoseElementCountOverflowsIsRefused() throws Exception {
        long big = 1L << 40;
        rejected(
                withHeader(
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":["
                                + big
                                + ","
                                + big
                                + "],\"data_offsets\":[0,4]}}",
                        4),
                "tensor 'w'",
                "overflows");
        // numel fits but bytes do not: 2^62 F32 elements.
        rejected(
                withHeader(
                        "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}",
                        4),
                "tensor 'w'",
                "overflows");
    }

    @Test
    void endBeforeBeginIsRefused() throws Exception {
        rejected(
                withHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8),
                "tensor 'w'",
                "end 4 is before begin 8");
    }

    @Test
    void byteRangeThatDoesNotMatchTheShapeIsRefused() throws Exception {
        rejected(
                withHeader("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
                "tensor 'w'",
                "span 8 bytes",
                "needs 6");
    }

    @Test
    void offsetsPastEndOfFileAreRefused() throws Exception {
        rejected(
                withHeader("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4),
                "tensor 'w'",
                "beyond the data region of 4 bytes");
        long huge = 1L << 60; // consistent with its shape, but terabytes past EOF
        rejected(
                withHeader(
                        "{\"w\":{\"dtype\":\"U8\",\"shape\":["
                                + huge
                                + "],\"data_offsets\":[0,"
                                + huge
                                + "]}}",
                        4),
                "tensor 'w'",
                "beyond the data region");
        rejected(
                withHeader(
                        "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[9223372036854775800,9223372036854775804]}}",
                        4),
                "tensor 'w'",
                "beyond the data region");
    }

    @Test
    void overlappingTensorsAreRefusedNamingBoth() throws Exception {
        rejected(
                withHeader(
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                        12),
                "'a'",
                "'b'",
                "overlap");
        // Empty tensors occupy no bytes, so sharing an offset is fine.
        Path ok =
                file(
                        withHeader(
                                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                        + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                                4));
        SafetensorsFile.open(ok).close();
    }
}
