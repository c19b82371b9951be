package io.flinklora.operators;

import io.flinklora.annotation.PublicEvolving;
import io.flinklora.operators.kafka.ReplyTopics;
import io.flinklora.registry.RegistryDecoder;
import io.flinklora.registry.RegistrySettings;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.codec.DecodeException;
import io.flinklora.schemas.codec.RequestCodec;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Decodes raw Kafka records into requests (Avro single-object, JSON, or a schema registry's framing
 * when the job has a registry); a record that cannot be decoded becomes an error record with its
 * code, source and (capped) bytes, and the job goes on. A request naming a reply topic the job does
 * not allow, or one that does not exist, is refused here (REPLY_TOPIC_NOT_ALLOWED /
 * REPLY_TOPIC_NOT_FOUND, on the job's error topic): a producer can neither make the job write into
 * arbitrary topics nor stop it with a topic its sinks cannot write to.
 */
@PublicEvolving
public final class DecodeRequests extends ProcessFunction<RawRecord, GenerationRequest> {
    private static final long serialVersionUID = 1L;
    private static final int MAX_PAYLOAD_IN_ERROR = 4096;
    private final int maxRequestBytes;
    private final ReplyTopics replyTopics;
    private final RegistrySettings registry;

    /**
     * Made where the function runs: it holds the registry's client and its cache of writer schemas.
     */
    private transient RegistryDecoder registryDecoder;

    /**
     * {@code replyTopics}: which reply topics requests may name (the allow-list, and they must
     * exist).
     */
    public DecodeRequests(int maxRequestBytes, ReplyTopics replyTopics) {
        this(maxRequestBytes, replyTopics, null);
    }

    /**
     * {@code registry}: where framed requests' writer schemas are looked up (null: such records are
     * refused).
     */
    public DecodeRequests(int maxRequestBytes, ReplyTopics replyTopics, RegistrySettings registry) {
        this.maxRequestBytes = maxRequestBytes;
        this.replyTopics = replyTopics;
        this.registry = registry;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        super.open(openContext);
        if (registry != null) {
            registryDecoder = new RegistryDecoder(registry);
        }
    }

    @Override
    public void processElement(RawRecord raw, Context ctx, Collector<GenerationRequest> out) {
        try {
            // An unreachable registry throws unchecked (not the record's fault): the task fails and
            // retries it.
            GenerationRequest r = RequestCodec.decode(raw.value, maxRequestBytes, registryDecoder);
            String[] refusal =
                    r.getReplyTopic() == null ? null : replyTopics.refusal(r.getReplyTopic());
            if (refusal != null) {
                ctx.output(
                        Outputs.ERRORS,
                        GenerationError.newBuilder()
                                .setRequestId(r.getRequestId())
                                .setCode(refusal[0])
                                .setMessage(refusal[1])
                                .setSource(raw.source())
                                .setOccurredAt(java.time.Instant.now())
                                .build());
                return;
            }
            out.collect(r);
        } catch (DecodeException e) {
            byte[] payload =
                    raw.value == null
                            ? null
                            : Arrays.copyOf(
                                    raw.value, Math.min(raw.value.length, MAX_PAYLOAD_IN_ERROR));
            ctx.output(
                    Outputs.ERRORS,
                    GenerationError.newBuilder()
                            .setRequestId(e.requestId())
                            .setCode(e.code())
                            .setMessage(e.getMessage())
                            .setRawPayload(payload == null ? null : ByteBuffer.wrap(payload))
                            .setSource(raw.source())
                            .setOccurredAt(java.time.Instant.now())
                            .build());
        }
    }

    @Override
    public void close() throws Exception {
        if (registryDecoder != null) {
            registryDecoder.close();
        }
        replyTopics.close();
        super.close();
    }
}
