package io.flinklora.schemas.codec;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.function.Function;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;

/**
 * Avro single-object encoding (0xC3 0x01, 8-byte schema fingerprint, binary body) of the contract
 * records records; every released writer schema stays readable (the operator's state has its own
 * {@link StateCodec}).
 */
@PublicEvolving
public final class AvroCodec {

    /** Marker, fingerprint: the single-object header before the body. */
    static final int HEADER_LENGTH = 10;

    /**
     * One record type's decoder plus the writer schemas it knows. The decoder resolves fingerprints
     * through the same store, so the bounds check and the decoder always agree on the writer
     * schema.
     */
    private static final class Type<T> {
        final Schema reader;
        final SchemaStore.Cache store = new SchemaStore.Cache();
        final BinaryMessageDecoder<T> decoder;

        Type(Schema reader, Function<SchemaStore, BinaryMessageDecoder<T>> createDecoder) {
            this.reader = reader;
            this.store.addSchema(reader);
            this.decoder = createDecoder.apply(store);
            for (Schema released : released(reader.getName())) {
                this.store.addSchema(released);
            }
        }
    }

    /**
     * Every released version of a contract (rule 4 of schemas/README.md): {@code
     * released/NAME-v1.avsc}, {@code -v2.avsc}, ... up to the first number missing, so releasing a
     * version is adding its file. GenerationRequest v1: before choices; v2: before reply_topic and
     * cancel; v3: before route; v4: with route (the current one, which state v5 embeds).
     */
    static java.util.List<Schema> released(String name) {
        java.util.List<String> files = new java.util.ArrayList<>();
        for (int v = 1; ; v++) {
            String file = name + "-v" + v + ".avsc";
            if (AvroCodec.class.getResource("/io/flinklora/schemas/released/" + file) == null) {
                return load(files);
            }
            files.add(file);
        }
    }

    /** Parses released schema files kept in the jar. */
    static java.util.List<Schema> load(java.util.List<String> files) {
        java.util.List<Schema> out = new java.util.ArrayList<>();
        for (String file : files) {
            try (var in =
                    AvroCodec.class.getResourceAsStream("/io/flinklora/schemas/released/" + file)) {
                out.add(new Schema.Parser().parse(in));
            } catch (IOException | NullPointerException e) {
                throw new IllegalStateException(
                        "released schema " + file + " is missing from the jar", e);
            }
        }
        return out;
    }

    private static final Map<Class<?>, Type<?>> TYPES =
            Map.of(
                    GenerationRequest.class,
                    new Type<GenerationRequest>(
                            GenerationRequest.getClassSchema(), GenerationRequest::createDecoder),
                    TokenEvent.class,
                    new Type<TokenEvent>(TokenEvent.getClassSchema(), TokenEvent::createDecoder),
                    Completion.class,
                    new Type<Completion>(Completion.getClassSchema(), Completion::createDecoder),
                    GenerationError.class,
                    new Type<GenerationError>(
                            GenerationError.getClassSchema(), GenerationError::createDecoder));

    private AvroCodec() {}

    public static byte[] toBytes(GenerationRequest record) {
        try {
            return bytes(record.toByteBuffer());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] toBytes(TokenEvent record) {
        try {
            return bytes(record.toByteBuffer());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] toBytes(Completion record) {
        try {
            return bytes(record.toByteBuffer());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static byte[] toBytes(GenerationError record) {
        try {
            return bytes(record.toByteBuffer());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Decodes a single-object encoded GenerationRequest, TokenEvent, Completion or GenerationError.
     * Any failure (not single-object encoding, unknown fingerprint, corrupt or hostile body) is
     * MALFORMED_INPUT.
     */
    public static <T> T fromBytes(byte[] value, Class<T> type) throws DecodeException {
        Type<T> t = type(type);
        if (value == null || value.length < HEADER_LENGTH) {
            throw malformed(
                    "not Avro single-object encoding: shorter than the 10-byte header", null);
        }
        if (value[0] != (byte) 0xC3 || value[1] != (byte) 0x01) {
            throw malformed("not Avro single-object encoding: missing the C3 01 marker", null);
        }
        long fingerprint = ByteBuffer.wrap(value, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        Schema writer = t.store.findByFingerprint(fingerprint);
        if (writer == null) {
            throw malformed(
                    String.format(
                            "unknown schema fingerprint %016x: not a known writer schema of %s"
                                    + " (is the producer newer than this job, or writing another record type?)",
                            fingerprint, type.getSimpleName()),
                    null);
        }
        AvroBounds.check(value, HEADER_LENGTH, writer);
        try {
            return t.decoder.decode(value);
        } catch (IOException | RuntimeException e) {
            throw malformed("corrupt Avro " + type.getSimpleName() + " body: " + e, e);
        }
    }

    /**
     * Checks that {@code value[offset..]} is exactly one datum of {@code writer} whose declared
     * lengths and counts fit the bytes that are there, before a decoder allocates by them (see
     * {@link AvroBounds}); for bodies behind other headers, such as a schema registry's. Failures
     * are MALFORMED_INPUT.
     */
    public static void checkBody(byte[] value, int offset, Schema writer) throws DecodeException {
        AvroBounds.check(value, offset, writer);
    }

    /**
     * Registers an older (or newer) writer schema of a record type so that records written with it
     * decode, resolved to the current schema. Fails if the current schema cannot read data written
     * with it.
     */
    public static void addWriterSchema(Class<?> type, Schema writer) {
        Type<?> t = type(type);
        SchemaCompatibility.SchemaPairCompatibility compat =
                SchemaCompatibility.checkReaderWriterCompatibility(t.reader, writer);
        if (compat.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
            throw new IllegalArgumentException(
                    "the current "
                            + type.getSimpleName()
                            + " schema cannot read data written with this schema: "
                            + compat.getDescription());
        }
        t.store.addSchema(writer);
    }

    @SuppressWarnings("unchecked")
    private static <T> Type<T> type(Class<T> type) {
        Type<T> t = (Type<T>) TYPES.get(type);
        if (t == null) {
            throw new IllegalArgumentException("not a contract record type: " + type);
        }
        return t;
    }

    private static byte[] bytes(ByteBuffer buffer) {
        byte[] out = new byte[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    private static DecodeException malformed(String message, Throwable cause) {
        return new DecodeException(DecodeException.MALFORMED_INPUT, message, null, cause);
    }
}
