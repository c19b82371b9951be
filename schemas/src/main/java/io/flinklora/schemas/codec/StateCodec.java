package io.flinklora.schemas.codec;

import io.flinklora.annotation.Internal;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.state.AdapterShare;
import io.flinklora.schemas.state.SamplingState;
import io.flinklora.schemas.state.SequenceState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;

/**
 * The versioned serializer of the generation operator's keyed state ({@link SequenceState}): Avro
 * single-object encoding, whose fingerprint names the writer version, with every released state
 * schema readable. Versions of the state's own record resolve by Avro's rules; the first two
 * versions, which embedded the wire request, are read with their own schema and upgraded field by
 * field.
 */
@Internal
public final class StateCodec {

    /**
     * The state's own record (v3 on): a later version adds fields with defaults, and older data
     * resolves. v4 added the route of a request with route auto (v3 state restores with none); v5
     * keeps the sampling options as the request's own encoding ({@link #samplingRequest}).
     */
    static final List<String> RELEASED =
            List.of("SequenceState-v3.avsc", "SequenceState-v4.avsc", "SequenceState-v5.avsc");

    /** v1 (before requests had choices) and v2: the state embedded the GenerationRequest. */
    static final List<String> EMBEDDED_REQUEST =
            List.of("SequenceState-v1.avsc", "SequenceState-v2.avsc");

    private static final SchemaStore.Cache STORE = new SchemaStore.Cache();
    private static final BinaryMessageDecoder<SequenceState> DECODER;
    private static final Map<Long, Schema> LEGACY = new LinkedHashMap<>();
    private static final Schema LEGACY_READER;

    static {
        STORE.addSchema(SequenceState.getClassSchema());
        AvroCodec.load(RELEASED).forEach(STORE::addSchema);
        DECODER = SequenceState.createDecoder(STORE);
        List<Schema> legacy = AvroCodec.load(EMBEDDED_REQUEST);
        for (Schema s : legacy) {
            LEGACY.put(org.apache.avro.SchemaNormalization.parsingFingerprint64(s), s);
        }
        LEGACY_READER = legacy.get(legacy.size() - 1);
    }

    private StateCodec() {}

    public static byte[] toBytes(SequenceState state) {
        try {
            ByteBuffer b = state.toByteBuffer();
            byte[] out = new byte[b.remaining()];
            b.get(out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads state written by any released job version; an unknown version or corrupt bytes fail,
     * never guess.
     */
    public static SequenceState fromBytes(byte[] value) throws DecodeException {
        if (value == null
                || value.length < AvroCodec.HEADER_LENGTH
                || value[0] != (byte) 0xC3
                || value[1] != (byte) 0x01) {
            throw malformed("not Avro single-object encoded state", null);
        }
        long fingerprint = ByteBuffer.wrap(value, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        Schema writer = STORE.findByFingerprint(fingerprint);
        if (writer != null) {
            AvroBounds.check(value, AvroCodec.HEADER_LENGTH, writer);
            try {
                return DECODER.decode(value);
            } catch (IOException | RuntimeException e) {
                throw malformed("corrupt state body: " + e, e);
            }
        }
        Schema legacy = LEGACY.get(fingerprint);
        if (legacy == null) {
            throw malformed(
                    String.format(
                            "unknown state schema fingerprint %016x: state of a newer job version,"
                                    + " or not this operator's state",
                            fingerprint),
                    null);
        }
        AvroBounds.check(value, AvroCodec.HEADER_LENGTH, legacy);
        try {
            GenericRecord old =
                    new GenericDatumReader<GenericRecord>(legacy, LEGACY_READER, GenericData.get())
                            .read(
                                    null,
                                    DecoderFactory.get()
                                            .binaryDecoder(
                                                    value,
                                                    AvroCodec.HEADER_LENGTH,
                                                    value.length - AvroCodec.HEADER_LENGTH,
                                                    null));
            return upgrade(old);
        } catch (IOException | RuntimeException e) {
            throw malformed("corrupt state body: " + e, e);
        }
    }

    /**
     * v1/v2 -> current: what recovery needs, taken from the embedded request; the resolved seed is
     * the state's.
     */
    private static SequenceState upgrade(GenericRecord old) {
        GenericRecord r = (GenericRecord) old.get("request");
        List<AdapterShare> adapters = new ArrayList<>();
        for (Object a : (List<?>) r.get("adapters")) {
            GenericRecord g = (GenericRecord) a;
            adapters.add(new AdapterShare(g.get("name").toString(), (Double) g.get("weight")));
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        ((Map<?, ?>) r.get("metadata")).forEach((k, v) -> metadata.put(k.toString(), v.toString()));
        Object createdAt = r.get("created_at");
        SamplingState sampling =
                SamplingState.newBuilder()
                        .setTemperature((Double) r.get("temperature"))
                        .setTopK((Integer) r.get("top_k"))
                        .setTopP((Double) r.get("top_p"))
                        .setSeed((Long) old.get("seed"))
                        .setMaxNewTokens((Integer) r.get("max_new_tokens"))
                        .setStop(strings(r.get("stop")))
                        .setStopTokenIds(ints(r.get("stop_token_ids")))
                        .setIgnoreEos((Boolean) r.get("ignore_eos"))
                        .build();
        Object first = old.get("first_token_at");
        return SequenceState.newBuilder()
                .setRequestId(r.get("request_id").toString())
                .setAdapters(adapters)
                .setPromptIds(ints(old.get("prompt_ids")))
                .setChoices(strings(r.get("choices")))
                .setSampling(sampling)
                .setMetadata(metadata)
                .setCreatedAt(createdAt == null ? null : Instant.ofEpochMilli((Long) createdAt))
                .setGeneratedIds(ints(old.get("generated_ids")))
                .setText(old.get("text").toString())
                .setAcceptedAt((Long) old.get("accepted_at"))
                .setFirstTokenAt(first == null ? null : (Long) first)
                .build();
    }

    /**
     * What state v5 keeps of an accepted request's sampling options: the request with its seed
     * resolved and everything the state holds elsewhere, or does not need, left out. Kept in the
     * request's own Avro encoding, whose released schemas later versions read, so that an option
     * added to requests needs no change to the state schema.
     */
    public static ByteBuffer samplingRequest(GenerationRequest accepted, long seed) {
        GenerationRequest kept =
                GenerationRequest.newBuilder(accepted)
                        .setSeed(seed)
                        .setPrompt(null)
                        .setPromptIds(null)
                        .setAdapters(List.of())
                        .setChoices(List.of())
                        .setMetadata(Map.of())
                        .setReplyTopic(null)
                        .setCreatedAt(null)
                        .setRoute(null)
                        .setCancel(false)
                        .build();
        return ByteBuffer.wrap(AvroCodec.toBytes(kept));
    }

    /**
     * The sampling options of a restored request as a {@link GenerationRequest} (its seed the
     * resolved one): from v5's {@code sampling_request}, or field by field from the {@link
     * SamplingState} of v1-v4, whose fields carry the request's names.
     */
    public static GenerationRequest samplingRequest(SequenceState s) throws DecodeException {
        if (s.getSamplingRequest() != null) {
            ByteBuffer b = s.getSamplingRequest().duplicate();
            byte[] bytes = new byte[b.remaining()];
            b.get(bytes);
            return AvroCodec.fromBytes(bytes, GenerationRequest.class);
        }
        SamplingState old = s.getSampling();
        if (old == null) {
            throw malformed("state of " + s.getRequestId() + " has no sampling options", null);
        }
        GenerationRequest r = GenerationRequest.newBuilder().setRequestId(s.getRequestId()).build();
        for (Schema.Field f : SamplingState.getClassSchema().getFields()) {
            Schema.Field to = GenerationRequest.getClassSchema().getField(f.name());
            if (to == null) {
                throw new IllegalStateException(
                        "SamplingState." + f.name() + " has no request field of that name");
            }
            r.put(to.pos(), old.get(f.pos()));
        }
        return r;
    }

    private static List<String> strings(Object list) {
        List<String> out = new ArrayList<>();
        for (Object o : (List<?>) list) {
            out.add(o.toString());
        }
        return out;
    }

    private static List<Integer> ints(Object list) {
        List<Integer> out = new ArrayList<>();
        for (Object o : (List<?>) list) {
            out.add((Integer) o);
        }
        return out;
    }

    private static DecodeException malformed(String message, Throwable cause) {
        return new DecodeException(DecodeException.MALFORMED_INPUT, message, null, cause);
    }
}
