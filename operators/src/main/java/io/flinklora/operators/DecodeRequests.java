package io.flinklora.operators;

import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.codec.DecodeException;
import io.flinklora.schemas.codec.RequestCodec;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Decodes raw Kafka records into requests (Avro single-object or JSON); a record that cannot be
 * decoded becomes an error record with its code, source and (capped) bytes, and the job goes on.
 */
public final class DecodeRequests extends ProcessFunction<RawRecord, GenerationRequest> {
    private static final long serialVersionUID = 1L;
    private static final int MAX_PAYLOAD_IN_ERROR = 4096;
    private final int maxRequestBytes;

    public DecodeRequests(int maxRequestBytes) {
        this.maxRequestBytes = maxRequestBytes;
    }

    @Override
    public void processElement(RawRecord raw, Context ctx, Collector<GenerationRequest> out) {
        try {
            out.collect(RequestCodec.decode(raw.value, maxRequestBytes));
        } catch (DecodeException e) {
            byte[] payload = raw.value == null ? null
                    : Arrays.copyOf(raw.value, Math.min(raw.value.length, MAX_PAYLOAD_IN_ERROR));
            ctx.output(Outputs.ERRORS, GenerationError.newBuilder().setRequestId(e.requestId()).setCode(e.code())
                    .setMessage(e.getMessage()).setRawPayload(payload == null ? null : ByteBuffer.wrap(payload))
                    .setSource(raw.source()).setOccurredAt(java.time.Instant.now()).build());
        }
    }
}
