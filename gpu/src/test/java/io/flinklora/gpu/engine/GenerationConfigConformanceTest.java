package io.flinklora.gpu.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.frontend.PromptRequest;
import io.flinklora.gpu.frontend.RequestProcessor;
import io.flinklora.gpu.model.GenerationDefaults;
import io.flinklora.gpu.model.ModelFormatException;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.codec.RequestCodec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request that leaves sampling fields unset gets the tokens transformers' {@code generate} gives
 * with the model folder's generation defaults ({@code generation_config.json}, or config.json's
 * generation fields when that file is missing), and a folder with a default the engine cannot apply
 * is refused naming it. Cases from {@code gpu/src/test/conformance/make_generation_config_cases.py}
 * on stories260k's weights.
 */
class GenerationConfigConformanceTest {
    private static final Path CASES =
            TestModels.projectRoot().resolve("gpu/src/test/resources/generation-config");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path tmp;

    @TestFactory
    Stream<DynamicTest> everyCaseMatchesTransformersOrIsRefusedByName() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : JSON.readTree(CASES.resolve("cases.json").toFile()).get("cases")) {
            String name = c.get("name").asText();
            tests.add(DynamicTest.dynamicTest(name, () -> check(c, folder(name))));
        }
        return tests.stream();
    }

    /** stories260k's weights and tokenizer with the case's config files. */
    private Path folder(String name) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        try (Stream<Path> files = Files.list(TestModels.stories260k())) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals("generation_config.json")) {
                    Files.copy(f, dir.resolve(f.getFileName()));
                }
            }
        }
        try (Stream<Path> files = Files.list(CASES.resolve(name))) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return dir;
    }

    private void check(JsonNode c, Path dir) throws Exception {
        EngineConfig.Builder config = EngineConfig.builder(dir).maxRunning(4);
        if (!c.get("refused").isNull()) {
            String field = c.get("refused").asText();
            ModelFormatException e =
                    assertThrows(ModelFormatException.class, () -> Engine.open(config.build()));
            assertTrue(e.getMessage().contains(field), e.getMessage());
            // Served when told to ignore the file's defaults.
            try (Engine engine =
                    Engine.open(config.copy().modelGenerationDefaults(false).build())) {
                assertEquals(GenerationDefaults.NONE, engine.generationDefaults());
            }
            return;
        }
        try (Engine engine = Engine.open(config.build())) {
            RequestProcessor front = RequestProcessor.of(engine);
            List<EngineRequest> requests = new ArrayList<>();
            Map<String, int[]> expected = new java.util.HashMap<>();
            int i = 0;
            for (JsonNode row : c.get("results")) {
                String id = "r" + i++;
                int[] prompt = TestModels.ints(row.get("prompt"));
                GenerationRequest r = request(id, prompt, c.get("request"));
                if (row.has("error")) {
                    // transformers raises: the prompt reaches max_length.
                    RequestException e =
                            assertThrows(
                                    RequestException.class,
                                    () -> front.sampling(r, prompt.length, List.of()),
                                    row.get("error").asText());
                    assertEquals(ErrorCode.CONTEXT_LENGTH_EXCEEDED, e.code());
                    continue;
                }
                SamplingParams params = front.sampling(r, prompt.length, List.of());
                requests.add(front.process(new PromptRequest(id, prompt, List.of(), params)));
                expected.put(id, TestModels.ints(row.get("ids")));
            }
            Map<String, EngineHarness.Outcome> out = EngineHarness.runAll(engine, requests);
            for (Map.Entry<String, int[]> e : expected.entrySet()) {
                assertArrayEquals(e.getValue(), out.get(e.getKey()).idArray(), e.getKey());
            }
        }
    }

    /** The wire request a client sends: only the case's fields set, the rest left to defaults. */
    private static GenerationRequest request(String id, int[] prompt, JsonNode fields)
            throws Exception {
        ObjectNode line = ((ObjectNode) fields).deepCopy();
        line.put("request_id", id);
        line.set("prompt_ids", JSON.valueToTree(prompt));
        return RequestCodec.decode(
                JSON.writeValueAsString(line).getBytes(StandardCharsets.UTF_8), 1 << 20);
    }

    @Test
    void everyGenerationConfigFieldOfTransformersIsClassified() throws IOException {
        Set<String> transformers = new TreeSet<>();
        JSON.readTree(CASES.resolve("cases.json").toFile())
                .get("generation_config_fields")
                .forEach(f -> transformers.add(f.asText()));
        assertEquals(transformers, GenerationDefaults.fieldNames());
    }
}
