package io.flinklora.operators;

import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.codec.DecodeException;
import io.flinklora.schemas.codec.RequestCodec;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.regex.Pattern;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Decodes raw Kafka records into requests (Avro single-object or JSON); a record that cannot be
 * decoded becomes an error record with its code, source and (capped) bytes, and the job goes on. A
 * request naming a reply topic the job does not allow is refused here (REPLY_TOPIC_NOT_ALLOWED, on the
 * job's error topic), so a producer cannot make the job write into arbitrary topics.
 */
public final class DecodeRequests extends ProcessFunction<RawRecord, GenerationRequest> {
    private static final long serialVersionUID = 1L;
    private static final int MAX_PAYLOAD_IN_ERROR = 4096;
    /** The code of a request whose reply_topic the job's pattern does not allow. */
    public static final String REPLY_TOPIC_NOT_ALLOWED = "REPLY_TOPIC_NOT_ALLOWED";
    private final int maxRequestBytes;
    private final String replyTopicPattern;
    private transient Pattern allowed;

    /** {@code replyTopicPattern}: a regex the whole reply topic must match; null allows none. */
    public DecodeRequests(int maxRequestBytes, String replyTopicPattern) {
        this.maxRequestBytes = maxRequestBytes;
        this.replyTopicPattern = replyTopicPattern;
        if (replyTopicPattern != null) {
            Pattern.compile(replyTopicPattern); // fails at job build time, not in the first record
        }
    }

    @Override
    public void processElement(RawRecord raw, Context ctx, Collector<GenerationRequest> out) {
        try {
            GenerationRequest r = RequestCodec.decode(raw.value, maxRequestBytes);
            if (r.getReplyTopic() != null && !replyTopicAllowed(r.getReplyTopic())) {
                ctx.output(Outputs.ERRORS, GenerationError.newBuilder().setRequestId(r.getRequestId())
                        .setCode(REPLY_TOPIC_NOT_ALLOWED).setMessage("reply_topic '" + r.getReplyTopic() + "' is not allowed"
                                + (replyTopicPattern == null ? ": this job takes no reply topics (--reply-topic-pattern)"
                                        : " by the job's reply-topic pattern " + replyTopicPattern))
                        .setSource(raw.source()).setOccurredAt(java.time.Instant.now()).build());
                return;
            }
            out.collect(r);
        } catch (DecodeException e) {
            byte[] payload = raw.value == null ? null
                    : Arrays.copyOf(raw.value, Math.min(raw.value.length, MAX_PAYLOAD_IN_ERROR));
            ctx.output(Outputs.ERRORS, GenerationError.newBuilder().setRequestId(e.requestId()).setCode(e.code())
                    .setMessage(e.getMessage()).setRawPayload(payload == null ? null : ByteBuffer.wrap(payload))
                    .setSource(raw.source()).setOccurredAt(java.time.Instant.now()).build());
        }
    }

    private boolean replyTopicAllowed(String topic) {
        if (replyTopicPattern == null) {
            return false;
        }
        if (allowed == null) {
            allowed = Pattern.compile(replyTopicPattern);
        }
        return allowed.matcher(topic).matches();
    }
}
