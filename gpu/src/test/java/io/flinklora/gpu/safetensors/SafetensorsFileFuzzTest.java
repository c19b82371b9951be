package io.flinklora.gpu.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.flinklora.gpu.FuzzCalls;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Property-based fuzzing of SafetensorsFile.open: any file gives a validated SafetensorsFile or a
 * SafetensorsException.
 */
class SafetensorsFileFuzzTest {

    private static final long TIME_BOUND_MS = 1000;
    private static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("safetensors-fuzz");
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /**
     * Writes the file, opens it, checks what a successful open promises, reads every tensor's
     * bytes.
     */
    static void opensOrFails(byte[] content) {
        Path file = dir.resolve("fuzz.safetensors");
        try {
            Files.write(file, content);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String input =
                content.length
                        + " bytes: "
                        + HexFormat.of().formatHex(content, 0, Math.min(8, content.length))
                        + " "
                        + new String(
                                content,
                                Math.min(8, content.length),
                                Math.max(0, Math.min(content.length - 8, 2000)),
                                StandardCharsets.UTF_8);
        FuzzCalls.valueOrCodedError(
                input,
                TIME_BOUND_MS,
                SafetensorsException.class,
                () -> {
                    try (SafetensorsFile f = SafetensorsFile.open(file)) {
                        long prevEnd = 0;
                        List<TensorInfo> sorted = new ArrayList<>(f.tensors().values());
                        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
                        for (TensorInfo t : sorted) {
                            assertTrue(
                                    t.begin() >= 0
                                            && t.end() >= t.begin()
                                            && t.end() <= f.dataLength(),
                                    t.toString());
                            assertEquals(
                                    t.numel() * t.dtype().byteSize(), t.byteLength(), t.toString());
                            if (t.byteLength() > 0) {
                                assertTrue(t.begin() >= prevEnd, "overlap at " + t);
                                prevEnd = t.end();
                            }
                            ByteBuffer b = f.bytes(t.name());
                            assertEquals(t.byteLength(), b.remaining());
                        }
                        return f;
                    }
                });
    }

    @Property(tries = 2000, shrinking = ShrinkingMode.BOUNDED)
    void anyBytesOpenOrFailWithSafetensorsException(
            @ForAll("lengths") long headerLength, @ForAll("rawBytes") byte[] rest) {
        opensOrFails(withLength(headerLength, rest));
    }

    @Property(tries = 3000, shrinking = ShrinkingMode.BOUNDED)
    void generatedHeadersOpenOrFailWithSafetensorsException(
            @ForAll("headers") String header,
            @ForAll("lengthEdits") long lengthEdit,
            @ForAll("rawBytes") byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        long declared =
                lengthEdit == Long.MIN_VALUE
                        ? h.length
                        : lengthEdit < 0 ? h.length + lengthEdit + 1000 : lengthEdit;
        byte[] out = new byte[h.length + data.length];
        System.arraycopy(h, 0, out, 0, h.length);
        System.arraycopy(data, 0, out, h.length, data.length);
        opensOrFails(withLength(declared, out));
    }

    static byte[] withLength(long n, byte[] rest) {
        return ByteBuffer.allocate(8 + rest.length)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(n)
                .put(rest)
                .array();
    }

    @Provide
    Arbitrary<byte[]> rawBytes() {
        return Arbitraries.frequencyOf(
                Tuple.of(1, Arbitraries.just(new byte[0])),
                Tuple.of(4, Arbitraries.bytes().array(byte[].class).ofMaxSize(300)));
    }

    @Provide
    Arbitrary<Long> lengths() {
        return Arbitraries.oneOf(
                Arbitraries.longs(),
                Arbitraries.longs().between(-2, 400),
                Arbitraries.of(
                        0L,
                        1L,
                        2L,
                        Long.MAX_VALUE,
                        Long.MIN_VALUE,
                        -1L,
                        1L << 32,
                        1L << 31,
                        SafetensorsFile.MAX_HEADER_BYTES,
                        SafetensorsFile.MAX_HEADER_BYTES + 1));
    }

    /**
     * Long.MIN_VALUE: the true length; other negatives: the true length off by a little; else the
     * value as is.
     */
    @Provide
    Arbitrary<Long> lengthEdits() {
        return Arbitraries.frequencyOf(
                Tuple.of(8, Arbitraries.just(Long.MIN_VALUE)),
                Tuple.of(2, Arbitraries.longs().between(-1010, -990)),
                Tuple.of(1, lengths()));
    }

    @Provide
    Arbitrary<String> headers() {
        Arbitrary<String> name =
                Arbitraries.frequencyOf(
                        Tuple.of(4, Arbitraries.of("a", "b", "c", "w.weight", "", "__metadata__")),
                        Tuple.of(1, Arbitraries.strings().ofMaxLength(6)));
        Arbitrary<String> value =
                Arbitraries.frequencyOf(
                        Tuple.of(8, tensor()), Tuple.of(1, metadata()), Tuple.of(1, anyJson()));
        Arbitrary<String> entries =
                Combinators.combine(name, value)
                        .as((k, v) -> quote(k) + ":" + v)
                        .list()
                        .ofMaxSize(5)
                        .map(l -> "{" + String.join(",", l) + "}");
        Arbitrary<String> padding = Arbitraries.of("", "", "", " ", "  \n", "\t");
        return Arbitraries.frequencyOf(
                Tuple.of(12, Combinators.combine(entries, padding).as(String::concat)),
                Tuple.of(1, anyJson()),
                Tuple.of(1, Arbitraries.strings().ofMaxLength(20)));
    }

    Arbitrary<String> tensor() {
        Arbitrary<String> dtype =
                Arbitraries.frequencyOf(
                        Tuple.of(8, Arbitraries.of(DType.class).map(d -> quote(d.name()))),
                        Tuple.of(
                                1,
                                Arbitraries.of(
                                        "\"f32\"",
                                        "\"F8_E4M3\"",
                                        "\"\"",
                                        "null",
                                        "32",
                                        "[\"F32\"]")));
        Arbitrary<String> dim =
                Arbitraries.oneOf(
                        Arbitraries.integers().between(0, 6).map(String::valueOf),
                        Arbitraries.of(
                                "-1",
                                "0",
                                "1",
                                "2147483648",
                                "4611686018427387904",
                                "9223372036854775807",
                                "9223372036854775808",
                                "18446744073709551617",
                                "1.0",
                                "2.5",
                                "1e3",
                                "\"2\"",
                                "null",
                                "[]"));
        Arbitrary<String> shape =
                Arbitraries.frequencyOf(
                        Tuple.of(
                                8,
                                dim.list().ofMaxSize(4).map(l -> "[" + String.join(",", l) + "]")),
                        Tuple.of(1, Arbitraries.of("null", "{}", "3", "\"[1]\"")));
        Arbitrary<String> offset =
                Arbitraries.oneOf(
                        Arbitraries.integers().between(0, 320).map(String::valueOf),
                        Arbitraries.of(
                                "-1",
                                "-8",
                                "9223372036854775807",
                                "9223372036854775808",
                                "-9223372036854775808",
                                "1.5",
                                "16.0",
                                "\"4\"",
                                "null",
                                "1e2"));
        Arbitrary<String> offsets =
                Arbitraries.frequencyOf(
                        Tuple.of(
                                8,
                                offset.list().ofSize(2).map(l -> "[" + String.join(",", l) + "]")),
                        Tuple.of(
                                1,
                                offset.list()
                                        .ofMaxSize(3)
                                        .map(l -> "[" + String.join(",", l) + "]")),
                        Tuple.of(1, Arbitraries.of("null", "{}", "0")));
        Arbitrary<String> field = Arbitraries.of("dtype", "shape", "data_offsets");
        // Usually all three fields in order; sometimes one dropped, one repeated, or an unknown one
        // added.
        return Combinators.combine(
                        dtype, shape, offsets, Arbitraries.integers().between(0, 12), field)
                .as(
                        (d, s, o, variant, f) -> {
                            List<String> parts =
                                    new ArrayList<>(
                                            List.of(
                                                    "\"dtype\":" + d,
                                                    "\"shape\":" + s,
                                                    "\"data_offsets\":" + o));
                            if (variant == 1) {
                                parts.removeIf(p -> p.startsWith("\"" + f + "\""));
                            } else if (variant == 2) {
                                parts.add("\"" + f + "\":" + d);
                            } else if (variant == 3) {
                                parts.add("\"extra\":[1,{\"x\":null}]");
                            }
                            return "{" + String.join(",", parts) + "}";
                        });
    }

    Arbitrary<String> metadata() {
        return Combinators.combine(
                        Arbitraries.strings().ofMaxLength(4),
                        Arbitraries.oneOf(
                                Arbitraries.strings()
                                        .ofMaxLength(4)
                                        .map(SafetensorsFileFuzzTest::quote),
                                Arbitraries.of("1", "null", "[]", "{}", "true")))
                .as((k, v) -> quote(k) + ":" + v)
                .list()
                .ofMaxSize(3)
                .map(l -> "{" + String.join(",", l) + "}");
    }

    static Arbitrary<String> anyJson() {
        return Arbitraries.of(
                "null",
                "1",
                "\"x\"",
                "[]",
                "{}",
                "[{}]",
                "{\"a\":1,\"a\":2}",
                "{\"a\":{}} {}",
                "{\"a\":",
                "\"\\ud800\"",
                "[".repeat(2000) + "]".repeat(2000),
                "{\"a\":".repeat(1500) + "1" + "}".repeat(1500),
                "1e999",
                "-",
                "\ufeff{}");
    }

    static String quote(String s) {
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + "\"";
    }
}
