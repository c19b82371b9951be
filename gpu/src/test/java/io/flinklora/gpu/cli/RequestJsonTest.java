package io.flinklora.gpu.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.frontend.RequestSampling;
import io.flinklora.gpu.lora.AdapterRef;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * generate.sh's request lines go through the job's RequestCodec and arrive in the engine's types.
 */
class RequestJsonTest {
    @Test
    void everyFieldReachesTheEngineTypes() {
        RequestJson r =
                RequestJson.parse(
                        "{\"request_id\": \"a\", \"prompt_ids\": [1, 2], \"adapters\": [{\"name\": \"x\","
                                + " \"weight\": 0.5}], \"max_new_tokens\": 9, \"temperature\": 0.7, \"top_k\": 5, \"top_p\": 0.9,"
                                + " \"seed\": 11, \"stop\": \"END\", \"stop_token_ids\": [3], \"ignore_eos\": true, \"min_p\": 0.1,"
                                + " \"repetition_penalty\": 1.2, \"presence_penalty\": 0.3, \"frequency_penalty\": 0.4,"
                                + " \"logit_bias\": {\"7\": -2.5}, \"logprobs\": 2, \"choices\": [\"yes\", \"no\"]}",
                        1);
        assertEquals("a", r.id());
        assertArrayEquals(new int[] {1, 2}, r.promptIds());
        assertEquals(List.of(new AdapterRef("x", 0.5)), r.adapters());
        SamplingParams p = RequestSampling.of(r.sampling());
        assertEquals(9, p.maxNewTokens());
        assertEquals(0.7, p.temperature());
        assertEquals(5, p.topK());
        assertEquals(0.9, p.topP());
        assertEquals(11L, p.seed());
        assertEquals(List.of("END"), p.stop());
        assertEquals(List.of(3), p.stopTokenIds());
        assertTrue(p.ignoreEos());
        assertEquals(Map.of(7, -2.5), p.adjustments().logitBias());
        assertEquals(1.2, p.adjustments().repetitionPenalty());
        assertEquals(2, p.logprobs());
        assertEquals(List.of("yes", "no"), r.choices());
    }

    @Test
    void aLogitBiasKeyThatIsNotATokenIdIsRefusedWithTheLinesId() {
        for (String key : new String[] {"x", "-1", "07", "1.5", "99999999999"}) {
            RequestJson.Refused e =
                    assertThrows(
                            RequestJson.Refused.class,
                            () ->
                                    RequestJson.parse(
                                            "{\"id\": \"k\", \"prompt\": \"x\", \"logit_bias\": {\""
                                                    + key
                                                    + "\": 1.0}}",
                                            1),
                            key);
            assertEquals(ErrorCode.INVALID_REQUEST, e.code(), key);
            assertEquals("k", e.requestId());
            assertTrue(
                    e.getMessage().contains("logit_bias keys must be token ids"), e.getMessage());
        }
    }

    @Test
    void omittedFieldsTakeTheEngineDefaultsOnAModelWithoutGenerationDefaults() {
        RequestJson r = RequestJson.parse("{\"id\": \"b\", \"prompt\": \"hi\"}", 1);
        assertEquals("hi", r.prompt());
        assertNull(r.promptIds());
        assertNull(r.sampling().getMaxNewTokens());
        SamplingParams p = RequestSampling.of(r.sampling());
        assertEquals(64, p.maxNewTokens());
        assertEquals(0.0, p.temperature());
        assertNull(p.logprobs());
    }

    @Test
    void refusalsCarryTheCodeAndTheIdWhenThereIsOne() {
        RequestJson.Refused notJson =
                assertThrows(RequestJson.Refused.class, () -> RequestJson.parse("{oops", 7));
        assertEquals(ErrorCode.MALFORMED_INPUT, notJson.code());
        assertNull(notJson.requestId());
        assertTrue(notJson.getMessage().startsWith("line 7: "), notJson.getMessage());
        RequestJson.Refused typo =
                assertThrows(
                        RequestJson.Refused.class,
                        () ->
                                RequestJson.parse(
                                        "{\"id\": \"c\", \"prompt\": \"x\", \"max_tokens\": 3}",
                                        1));
        assertEquals(ErrorCode.INVALID_REQUEST, typo.code());
        assertEquals("c", typo.requestId());
        RequestJson.Refused jobOnly =
                assertThrows(
                        RequestJson.Refused.class,
                        () ->
                                RequestJson.parse(
                                        "{\"id\": \"d\", \"prompt\": \"x\", \"reply_topic\": \"r\"}",
                                        1));
        assertEquals(ErrorCode.INVALID_REQUEST, jobOnly.code());
        RequestJson.Refused route =
                assertThrows(
                        RequestJson.Refused.class,
                        () ->
                                RequestJson.parse(
                                        "{\"id\": \"e\", \"prompt\": \"x\", \"route\": \"best\"}",
                                        1));
        assertEquals(ErrorCode.INVALID_REQUEST, route.code());
        RequestJson.Refused range =
                assertThrows(
                        RequestJson.Refused.class,
                        () ->
                                RequestJson.parse(
                                        "{\"id\": \"f\", \"prompt\": \"x\", \"max_new_tokens\": 99999999999}",
                                        1));
        assertEquals(ErrorCode.INVALID_PARAMETER, range.code());
        assertTrue(
                RequestJson.parse("{\"id\": \"g\", \"prompt\": \"x\", \"route\": \"auto\"}", 1)
                        .routeAuto());
        assertEquals(
                -2,
                RequestJson.parse("{\"id\": \"h\", \"prompt\": \"x\", \"priority\": -2}", 1)
                        .priority(),
                "priority orders a file's requests as it does the job's");
    }
}
