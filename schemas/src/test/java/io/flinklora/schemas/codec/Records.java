package io.flinklora.schemas.codec;

import io.flinklora.schemas.AdapterWeight;
import io.flinklora.schemas.Completion;
import io.flinklora.schemas.GenerationError;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.TokenEvent;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/** Sample records with every field set. */
final class Records {

    private Records() {}

    static GenerationRequest fullRequest() {
        return GenerationRequest.newBuilder()
                .setRequestId("req-1")
                .setAdapters(
                        List.of(new AdapterWeight("sql", 0.75), new AdapterWeight("poems", 0.25)))
                .setPrompt("Write a haiku about Flink")
                .setMaxNewTokens(32)
                .setTemperature(0.7)
                .setTopK(40)
                .setTopP(0.9)
                .setSeed(1234567890123L)
                .setStop(List.of("\n\n", "END"))
                .setStopTokenIds(List.of(2, 13))
                .setIgnoreEos(true)
                .setPriority(3)
                .setMetadata(Map.of("user", "alice", "trace", "t-9"))
                .setCreatedAt(Instant.ofEpochMilli(1_700_000_000_123L))
                .build();
    }

    static GenerationRequest idsRequest() {
        return GenerationRequest.newBuilder()
                .setRequestId("req-ids")
                .setPromptIds(List.of(1, 15043, 3186))
                .build();
    }

    static TokenEvent tokenEvent() {
        return TokenEvent.newBuilder()
                .setRequestId("req-1")
                .setIndex(4)
                .setTokenId(3186)
                .setText(" world")
                .setFinished(true)
                .setFinishReason("length")
                .setAdapters("sql+poems")
                .setRequestCreatedAt(Instant.ofEpochMilli(1_700_000_000_123L))
                .setEmittedAt(Instant.ofEpochMilli(1_700_000_000_456L))
                .build();
    }

    static Completion completion() {
        return Completion.newBuilder()
                .setRequestId("req-1")
                .setText("Hello world")
                .setTokenIds(List.of(15043, 3186))
                .setPromptTokens(7)
                .setCompletionTokens(2)
                .setFinishReason("stop")
                .setAdapters("sql")
                .setTimeToFirstTokenMs(12)
                .setTotalLatencyMs(34)
                .setMetadata(Map.of("user", "alice"))
                .build();
    }

    static GenerationError error() {
        return GenerationError.newBuilder()
                .setRequestId(null)
                .setCode("MALFORMED_INPUT")
                .setMessage("not JSON")
                .setRawPayload(ByteBuffer.wrap("\u00ff{oops".getBytes(StandardCharsets.ISO_8859_1)))
                .setSource("requests/0/42")
                .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_999L))
                .build();
    }
}
