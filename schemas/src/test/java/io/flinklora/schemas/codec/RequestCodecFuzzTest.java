package io.flinklora.schemas.codec;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Property-based fuzzing of RequestCodec.decode and AvroCodec.fromBytes: any input gives a value or
 * a coded DecodeException.
 */
class RequestCodecFuzzTest {

    /** Far above the cost of one decode; a call over it counts as a hang. */
    private static final long TIME_BOUND_MS = 1000;

    private static final int MAX_BYTES = 1 << 20;
    private static final Set<String> CODES =
            Set.of(
                    DecodeException.MALFORMED_INPUT,
                    DecodeException.INVALID_REQUEST,
                    DecodeException.INVALID_PARAMETER,
                    DecodeException.LIMIT_EXCEEDED);
    private static final ExecutorService WORKER =
            Executors.newSingleThreadExecutor(
                    r -> {
                        Thread t = new Thread(r, "fuzz-decode");
                        t.setDaemon(true);
                        return t;
                    });

    @AfterContainer
    static void stopWorker() {
        WORKER.shutdownNow();
    }

    interface Decode<T> {
        T run() throws Exception;
    }

    /**
     * Runs one decode with a time bound; returns the value, or null after checking the coded error.
     */
    static <T> T decodesOrCodedError(String input, Decode<T> decode) {
        Future<T> f = WORKER.submit(decode::run);
        try {
            return f.get(TIME_BOUND_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            fail("decode did not finish within " + TIME_BOUND_MS + " ms on input " + input);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof DecodeException d) {
                assertTrue(CODES.contains(d.code()), "unknown code " + d.code());
                assertNotNull(d.getMessage());
                return null;
            }
            throw new AssertionError(
                    "decode threw " + c + " instead of a DecodeException on input " + input, c);
        }
        return null;
    }

    static GenerationRequest decode(byte[] value) {
        GenerationRequest r =
                decodesOrCodedError(describe(value), () -> RequestCodec.decode(value, MAX_BYTES));
        if (r != null) {
            assertFalse(
                    r.getRequestId() == null || r.getRequestId().isEmpty(),
                    "empty request_id accepted");
            assertTrue(
                    (r.getPrompt() == null) != (r.getPromptIds() == null),
                    "not exactly one prompt: " + r);
        }
        return r;
    }

    static String describe(byte[] value) {
        String hex = HexFormat.of().formatHex(value, 0, Math.min(value.length, 400));
        return value.length
                + " bytes: "
                + hex
                + (value.length > 400 ? "..." : "")
                + " (as text: "
                + new String(value, 0, Math.min(value.length, 400), StandardCharsets.UTF_8)
                + ")";
    }

    // ---------------------------------------------------------------- raw bytes

    @Property(tries = 5000, shrinking = ShrinkingMode.BOUNDED)
    void anyBytesDecodeToARequestOrACodedError(@ForAll("anyBytes") byte[] value) {
        decode(value);
    }

    @Provide
    Arbitrary<byte[]> anyBytes() {
        Arbitrary<byte[]> plain = Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
        // Past the marker and the fingerprint, so the bytes reach the bounds check and the Avro
        // decoder.
        byte[] header =
                java.util.Arrays.copyOf(
                        AvroCodec.toBytes(Records.idsRequest()), AvroCodec.HEADER_LENGTH);
        Arbitrary<byte[]> avroBody = plain.map(b -> concat(header, b));
        return Arbitraries.frequencyOf(Tuple.of(1, plain), Tuple.of(3, avroBody));
    }

    // ---------------------------------------------------------------- mutated Avro

    @Property(tries = 5000, shrinking = ShrinkingMode.BOUNDED)
    void mutatedAvroRequestsDecodeToARequestOrACodedError(
            @ForAll("requests") GenerationRequest request,
            @ForAll("mutations") List<Mutation> mutations) {
        byte[] value = AvroCodec.toBytes(request);
        for (Mutation m : mutations) {
            value = m.apply(value);
        }
        decode(value);
    }

    @Property(tries = 3000, shrinking = ShrinkingMode.BOUNDED)
    void mutatedAvroContractRecordsDecodeOrFailWithACodedError(
            @ForAll("records") Object record, @ForAll("mutations") List<Mutation> mutations) {
        byte[] value = toBytes(record);
        for (Mutation m : mutations) {
            value = m.apply(value);
        }
        byte[] v = value;
        Class<?> type = record.getClass();
        Object out =
                decodesOrCodedError(
                        type.getSimpleName() + " " + describe(v),
                        () -> AvroCodec.fromBytes(v, type));
        if (out != null) {
            assertTrue(type.isInstance(out));
        }
    }

    static byte[] toBytes(Object record) {
        if (record instanceof GenerationRequest r) {
            return AvroCodec.toBytes(r);
        } else if (record instanceof TokenEvent r) {
            return AvroCodec.toBytes(r);
        } else if (record instanceof Completion r) {
            return AvroCodec.toBytes(r);
        }
        return AvroCodec.toBytes((GenerationError) record);
    }

    @Provide
    Arbitrary<Object> records() {
        return Arbitraries.oneOf(
                requests().map(r -> (Object) r),
                Arbitraries.of(
                        Records.tokenEvent(),
                        Records.completion(),
                        Records.error(),
                        Records.fullRequest()));
    }

    @Provide
    Arbitrary<GenerationRequest> requests() {
        Arbitrary<String> text = Arbitraries.strings().ofMaxLength(20);
        Arbitrary<List<Integer>> ints = Arbitraries.integers().list().ofMaxSize(8);
        Arbitrary<List<AdapterWeight>> adapters =
                Combinators.combine(text, Arbitraries.doubles())
                        .as(AdapterWeight::new)
                        .list()
                        .ofMaxSize(3);
        Arbitrary<Map<String, String>> metadata = Arbitraries.maps(text, text).ofMaxSize(3);
        return Combinators.combine(
                        text.filter(s -> !s.isEmpty()),
                        Arbitraries.of(true, false),
                        text,
                        ints,
                        adapters,
                        Arbitraries.longs().injectNull(0.5),
                        text.list().ofMaxSize(3),
                        metadata)
                .as(
                        (id, usePrompt, prompt, promptIds, ad, seed, stop, md) ->
                                GenerationRequest.newBuilder()
                                        .setRequestId(id)
                                        .setPrompt(usePrompt ? prompt : null)
                                        .setPromptIds(usePrompt ? null : promptIds)
                                        .setAdapters(ad)
                                        .setSeed(seed)
                                        .setStop(stop)
                                        .setStopTokenIds(promptIds)
                                        .setMetadata(md)
                                        .setCreatedAt(
                                                seed == null ? null : Instant.ofEpochMilli(seed))
                                        .build());
    }

    /**
     * One edit of an encoded record. Positions are fractions of the length, so they fit any record.
     */
    record Mutation(int kind, double where, long value) {
        byte[] apply(byte[] in) {
            int pos = (int) (where * in.length);
            switch (kind) {
                case 0:
                    { // flip one bit
                        if (in.length == 0) {
                            return in;
                        }
                        byte[] out = in.clone();
                        int p = Math.min(pos, in.length - 1);
                        out[p] ^= (byte) (1 << (value & 7));
                        return out;
                    }
                case 1: // truncate
                    return java.util.Arrays.copyOf(in, pos);
                case 2: // insert one byte
                    return splice(in, pos, 0, new byte[] {(byte) value});
                case 3: // delete a few bytes
                    return splice(
                            in, pos, (int) Math.min(in.length - pos, 1 + (value & 7)), new byte[0]);
                case 4: // overwrite with a (possibly huge or negative) zig-zag varint, as in a
                    // length position
                    return splice(in, pos, (int) Math.min(in.length - pos, 1), varint(value));
                default: // insert a varint (a new length or count)
                    return splice(in, pos, 0, varint(value));
            }
        }
    }

    @Provide
    Arbitrary<List<Mutation>> mutations() {
        Arbitrary<Long> values =
                Arbitraries.oneOf(
                        Arbitraries.longs(),
                        Arbitraries.longs().between(-300, 300),
                        Arbitraries.of(
                                Long.MAX_VALUE,
                                Long.MIN_VALUE,
                                (long) Integer.MAX_VALUE,
                                (long) Integer.MIN_VALUE,
                                1L << 31,
                                1L << 40,
                                -1L));
        // Mostly in the body: edits of the 10-byte header only test the fingerprint lookup.
        Arbitrary<Double> where =
                Arbitraries.frequencyOf(
                        Tuple.of(1, Arbitraries.doubles().between(0, 1)),
                        Tuple.of(4, Arbitraries.doubles().between(0.2, 1)));
        return Combinators.combine(Arbitraries.integers().between(0, 5), where, values)
                .as(Mutation::new)
                .list()
                .ofMinSize(1)
                .ofMaxSize(4);
    }

    static byte[] varint(long v) {
        long z = (v << 1) ^ (v >> 63);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while ((z & ~0x7FL) != 0) {
            out.write((int) ((z & 0x7F) | 0x80));
            z >>>= 7;
        }
        out.write((int) z);
        return out.toByteArray();
    }

    static byte[] splice(byte[] in, int pos, int remove, byte[] insert) {
        byte[] out = new byte[in.length - remove + insert.length];
        System.arraycopy(in, 0, out, 0, pos);
        System.arraycopy(insert, 0, out, pos, insert.length);
        System.arraycopy(in, pos + remove, out, pos + insert.length, in.length - pos - remove);
        return out;
    }

    static byte[] concat(byte[] a, byte[] b) {
        return splice(a, a.length, 0, b);
    }

    // ---------------------------------------------------------------- JSON trees

    private static final List<String> FIELDS =
            List.of(
                    "request_id",
                    "id",
                    "adapters",
                    "prompt",
                    "prompt_ids",
                    "max_new_tokens",
                    "temperature",
                    "top_k",
                    "top_p",
                    "seed",
                    "stop",
                    "stop_token_ids",
                    "ignore_eos",
                    "priority",
                    "metadata",
                    "created_at",
                    "name",
                    "weight");

    @Property(tries = 4000, shrinking = ShrinkingMode.BOUNDED)
    void jsonObjectsDecodeToARequestOrACodedError(@ForAll("requestObjects") String json) {
        decode(json.getBytes(StandardCharsets.UTF_8));
    }

    @Property(tries = 3000, shrinking = ShrinkingMode.BOUNDED)
    void mutatedJsonTextDecodesToARequestOrACodedError(
            @ForAll("requestObjects") String json,
            @ForAll("textEdits") List<Tuple.Tuple3<Double, Integer, String>> edits) {
        StringBuilder s = new StringBuilder(json);
        for (Tuple.Tuple3<Double, Integer, String> e : edits) {
            int pos = (int) (e.get1() * s.length());
            int end = Math.min(s.length(), pos + e.get2());
            s.replace(pos, end, e.get3());
        }
        decode(s.toString().getBytes(StandardCharsets.UTF_8));
    }

    @Property(tries = 200, shrinking = ShrinkingMode.BOUNDED)
    void hostileSizesAndNestingDecodeToACodedError(@ForAll("hostileJson") String json) {
        decode(json.getBytes(StandardCharsets.UTF_8));
    }

    @Provide
    Arbitrary<List<Tuple.Tuple3<Double, Integer, String>>> textEdits() {
        Arbitrary<String> inserts =
                Arbitraries.oneOf(
                        Arbitraries.of(
                                "",
                                "{",
                                "}",
                                "[",
                                "]",
                                ",",
                                ":",
                                "\"",
                                "\\",
                                "\\u",
                                "\\ud800",
                                "null",
                                "-",
                                "1e999",
                                "0x1F",
                                "NaN",
                                "/*",
                                "//",
                                "\u0000",
                                "\ufeff",
                                "\"a\":1,",
                                "99999999999999999999"),
                        Arbitraries.strings().ofMaxLength(4));
        return Combinators.combine(
                        Arbitraries.doubles().between(0, 1),
                        Arbitraries.integers().between(0, 3),
                        inserts)
                .as(Tuple::of)
                .list()
                .ofMinSize(1)
                .ofMaxSize(4);
    }

    @Provide
    Arbitrary<String> requestObjects() {
        Arbitrary<String> name =
                Arbitraries.frequencyOf(
                        Tuple.of(8, Arbitraries.of(FIELDS)),
                        Tuple.of(1, Arbitraries.strings().ofMaxLength(6)));
        Arbitrary<String> entry =
                Combinators.combine(name, fieldValue()).as((k, v) -> quote(k) + ":" + v);
        // Almost always an id and a prompt, so most cases get past the first checks.
        Arbitrary<String> id =
                Arbitraries.frequencyOf(
                        Tuple.of(6, Arbitraries.just("\"request_id\":\"r\"")),
                        Tuple.of(1, Arbitraries.just("\"id\":\"r\"")),
                        Tuple.of(1, Arbitraries.just("")));
        Arbitrary<String> prompt =
                Arbitraries.frequencyOf(
                        Tuple.of(3, Arbitraries.just("\"prompt\":\"p\"")),
                        Tuple.of(2, Arbitraries.just("\"prompt_ids\":[1,2]")),
                        Tuple.of(1, Arbitraries.just("")));
        return Combinators.combine(id, prompt, entry.list().ofMaxSize(6))
                .as(
                        (i, p, rest) -> {
                            List<String> all = new ArrayList<>();
                            if (!i.isEmpty()) {
                                all.add(i);
                            }
                            if (!p.isEmpty()) {
                                all.add(p);
                            }
                            all.addAll(rest);
                            return "{" + String.join(",", all) + "}";
                        });
    }

    Arbitrary<String> fieldValue() {
        return json(3);
    }

    /**
     * Any JSON value of at most this depth, skewed towards values that sit at type and range edges.
     */
    static Arbitrary<String> json(int depth) {
        Arbitrary<String> scalar =
                Arbitraries.oneOf(
                        Arbitraries.of(
                                "null",
                                "true",
                                "false",
                                "0",
                                "-0",
                                "1",
                                "-1",
                                "64",
                                "64.0",
                                "1.5",
                                "-0.0",
                                "1e2",
                                "1E+2",
                                "2147483647",
                                "2147483648",
                                "-2147483649",
                                "9223372036854775807",
                                "9223372036854775808",
                                "-9223372036854775809",
                                "1e308",
                                "1e309",
                                "-1e400",
                                "1e-400",
                                "1e2147483647",
                                "1e-2147483648",
                                "123456789012345678901234567890",
                                "0.0000001e7",
                                "\"\"",
                                "\"x\"",
                                "{}",
                                "[]"),
                        Arbitraries.integers().map(String::valueOf),
                        Arbitraries.longs().map(String::valueOf),
                        Arbitraries.doubles().map(String::valueOf),
                        Arbitraries.bigIntegers()
                                .between(
                                        java.math.BigInteger.TEN.pow(30).negate(),
                                        java.math.BigInteger.TEN.pow(30))
                                .map(String::valueOf),
                        Arbitraries.strings().ofMaxLength(12).map(RequestCodecFuzzTest::quote),
                        Arbitraries.strings()
                                .all()
                                .ofMaxLength(12)
                                .map(RequestCodecFuzzTest::quote));
        if (depth == 0) {
            return scalar;
        }
        Arbitrary<String> inner = json(depth - 1);
        Arbitrary<String> array =
                inner.list().ofMaxSize(4).map(l -> "[" + String.join(",", l) + "]");
        Arbitrary<String> key =
                Arbitraries.frequencyOf(
                        Tuple.of(2, Arbitraries.of(FIELDS)),
                        Tuple.of(1, Arbitraries.strings().ofMaxLength(5)));
        Arbitrary<String> object =
                Combinators.combine(key, inner)
                        .as((k, v) -> quote(k) + ":" + v)
                        .list()
                        .ofMaxSize(4)
                        .map(l -> "{" + String.join(",", l) + "}");
        return Arbitraries.frequencyOf(
                Tuple.of(3, scalar), Tuple.of(1, array), Tuple.of(1, object));
    }

    @Provide
    Arbitrary<String> hostileJson() {
        Arbitrary<Integer> big = Arbitraries.integers().between(1, 50_000);
        return Arbitraries.oneOf(
                big.map(n -> "[".repeat(n) + "]".repeat(n)),
                big.map(n -> "{\"a\":".repeat(n) + "1" + "}".repeat(n)),
                big.map(
                        n ->
                                "{\"request_id\":\"r\",\"prompt\":\"p\",\"metadata\":"
                                        + "{\"a\":".repeat(n)
                                        + "\"x\""
                                        + "}".repeat(n)
                                        + "}"),
                big.map(n -> "{\"request_id\":\"r\",\"prompt_ids\":[" + "7,".repeat(n) + "7]}"),
                big.map(
                        n ->
                                "{\"request_id\":\"r\",\"prompt\":\"p\",\"seed\":1"
                                        + "0".repeat(n)
                                        + "}"),
                big.map(n -> "{\"request_id\":\"r\",\"prompt\":\"p\",\"top_k\":1e" + n + "}"),
                big.map(
                        n ->
                                "{\"request_id\":\"r\",\"prompt\":\"p\",\"top_k\":0."
                                        + "0".repeat(n)
                                        + "1e"
                                        + n
                                        + "}"),
                big.map(n -> "{\"request_id\":\"" + "x".repeat(n) + "\",\"prompt\":\"p\"}"),
                big.map(
                        n ->
                                "{\"request_id\":\"r\",\"prompt\":\"p\",\"stop\":["
                                        + "\"s\",".repeat(n)
                                        + "\"s\"]}"),
                big.map(
                        n ->
                                "{\"request_id\":\"r\",\"prompt\":\"p\",\"temperature\":-"
                                        + "9".repeat(n)
                                        + ".5}"));
    }

    static String quote(String s) {
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + "\"";
    }
}
