package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.TestModels.ReferenceRow;
import io.flinklora.gpu.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class GreedyReferenceTest {

    @Test
    void greedyDecodingReproducesEveryReferenceRowInOneBatch() {
        List<ReferenceRow> rows = TestModels.greedyReference();
        try (Engine engine =
                Engine.open(EngineConfig.builder(TestModels.stories260k()).maxRunning(8).build())) {
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < rows.size(); i++) {
                ReferenceRow row = rows.get(i);
                assertArrayEquals(
                        row.promptIds(),
                        engine.tokenizer().encode(row.prompt()),
                        "tokenizer, row " + i);
                requests.add(
                        EngineHarness.request(
                                "r" + i,
                                row.promptIds(),
                                SamplingParams.greedy(row.maxNewTokens()).withIgnoreEos(true)));
            }
            Map<String, EngineHarness.Outcome> out = EngineHarness.runAll(engine, requests);
            for (int i = 0; i < rows.size(); i++) {
                EngineHarness.Outcome o = out.get("r" + i);
                assertArrayEquals(rows.get(i).greedyIds(), o.idArray(), "greedy ids of row " + i);
                assertEquals(rows.get(i).greedyText(), o.text(), "streamed text of row " + i);
                assertEquals(FinishReason.LENGTH, o.reason());
            }
        }
    }
}
