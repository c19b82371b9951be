package io.flinklora.gpu.frontend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.model.GenerationDefaults;
import io.flinklora.gpu.model.ModelFormatException;
import io.flinklora.gpu.sampling.RequestLimits;
import io.flinklora.gpu.sampling.SamplingParams;
import io.flinklora.gpu.tokenizer.Tokenizer;
import io.flinklora.schemas.GenerationRequest;
import io.flinklora.schemas.codec.RequestCodec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How a wire request's unset sampling fields take a model folder's generation defaults (the rules
 * of transformers' generate), and which generation_config.json files refuse the model.
 */
class RequestSamplingDefaultsTest {
    @TempDir Path dir;

    private GenerationDefaults defaults(String generationConfig) throws Exception {
        Files.writeString(dir.resolve("generation_config.json"), generationConfig);
        return GenerationDefaults.load(dir);
    }

    private static GenerationRequest request(String fields) throws Exception {
        String json = "{\"id\": \"a\", \"prompt_ids\": [1, 2, 3]" + fields + "}";
        return RequestCodec.decode(json.getBytes(StandardCharsets.UTF_8), 1 << 20);
    }

    @Test
    void aSamplingModelSamplesRequestsThatSetNoTemperatureWithTransformersDefaults()
            throws Exception {
        GenerationDefaults d = defaults("{\"do_sample\": true}");
        SamplingParams p = RequestSampling.of(request(""), d, 3, 1000, true);
        assertEquals(1.0, p.temperature()); // transformers' temperature when the file sets none
        assertEquals(50, p.topK()); // transformers' top_k when sampling
        assertEquals(1.0, p.topP());
        SamplingParams greedy =
                RequestSampling.of(request(", \"temperature\": 0"), d, 3, 1000, true);
        assertTrue(greedy.isGreedy());
    }

    @Test
    void theFilesSamplingValuesApplyOnlyWhenItSamples() throws Exception {
        GenerationDefaults sampling =
                defaults(
                        "{\"do_sample\": true, \"temperature\": 0.6, \"top_k\": 20, \"top_p\": 0.9}");
        SamplingParams p = RequestSampling.of(request(""), sampling, 3, 1000, true);
        assertEquals(0.6, p.temperature());
        assertEquals(20, p.topK());
        assertEquals(0.9, p.topP());
        GenerationDefaults greedy = defaults("{\"temperature\": 0.6, \"top_p\": 0.9}");
        SamplingParams g = RequestSampling.of(request(""), greedy, 3, 1000, true);
        assertTrue(g.isGreedy(), "without do_sample transformers decodes greedily");
        // A request that samples on such a model gets the file's top_p.
        assertEquals(
                0.9,
                RequestSampling.of(request(", \"temperature\": 1.0"), greedy, 3, 1000, true)
                        .topP());
    }

    @Test
    void lengthsFollowTransformersAndAreCappedAtWhatTheEngineServes() throws Exception {
        GenerationDefaults maxLength = defaults("{\"max_length\": 50}");
        assertEquals(47, RequestSampling.of(request(""), maxLength, 3, 1000, true).maxNewTokens());
        assertEquals(10, RequestSampling.of(request(""), maxLength, 3, 10, true).maxNewTokens());
        assertEquals(
                100,
                RequestSampling.of(request(", \"max_new_tokens\": 100"), maxLength, 3, 10, true)
                        .maxNewTokens(),
                "a request's own length is not capped (the front end refuses it if too long)");
        GenerationDefaults both = defaults("{\"max_length\": 5, \"max_new_tokens\": 30}");
        assertEquals(30, RequestSampling.of(request(""), both, 3, 1000, true).maxNewTokens());
        assertEquals(
                64,
                RequestSampling.of(request(""), GenerationDefaults.NONE, 3, 1000, true)
                        .maxNewTokens());
        // A request scoring choices generates nothing: the model's max_length does not refuse it.
        assertEquals(
                64,
                RequestSampling.of(request(""), defaults("{\"max_length\": 5}"), 30, 1000, false)
                        .maxNewTokens());
    }

    @Test
    void aFieldTheEngineCannotApplyRefusesTheModelByName() {
        for (String field :
                new String[] {
                    "\"num_beams\": 4",
                    "\"bad_words_ids\": [[5]]",
                    "\"sequence_bias\": [[[5], 1.0]]",
                    "\"typical_p\": 0.5",
                    "\"stop_strings\": [\"x\"]",
                    "\"penalty_alpha\": 0.6",
                    "\"max_time\": 3.0",
                    "\"no_such_field\": 1"
                }) {
            ModelFormatException e =
                    assertThrows(ModelFormatException.class, () -> defaults("{" + field + "}"));
            String name = field.substring(1, field.indexOf('"', 1));
            assertTrue(e.getMessage().contains(name), e.getMessage());
        }
        assertThrows(
                ModelFormatException.class,
                () -> defaults("{\"do_sample\": true, \"temperature\": 0}"));
        assertThrows(ModelFormatException.class, () -> defaults("{\"top_k\": \"50\"}"));
    }

    @Test
    void aDefaultEveryRequestWouldBeRefusedForRefusesTheModelByName() throws Exception {
        try (Tokenizer tokenizer = Tokenizer.load(TestModels.stories260k())) {
            for (String file :
                    new String[] {
                        "{\"do_sample\": true, \"top_p\": 0.0}",
                        "{\"repetition_penalty\": 0}",
                        "{\"no_repeat_ngram_size\": -1}",
                        "{\"max_length\": 1}"
                    }) {
                GenerationDefaults d = defaults(file);
                ModelFormatException e =
                        assertThrows(
                                ModelFormatException.class,
                                () ->
                                        new RequestProcessor(
                                                tokenizer, 512, 512, RequestLimits.DEFAULT, d),
                                file);
                assertTrue(e.getMessage().contains("generation_config.json"), e.getMessage());
            }
            // Sane defaults pass.
            new RequestProcessor(
                    tokenizer,
                    512,
                    512,
                    RequestLimits.DEFAULT,
                    defaults("{\"do_sample\": true, \"top_p\": 0.9, \"max_length\": 4096}"));
        }
    }

    @Test
    void configJsonCountsOnlyWithoutAGenerationConfigAndOnlyForGenerationFields() throws Exception {
        Files.writeString(
                dir.resolve("config.json"),
                "{\"hidden_size\": 64, \"repetition_penalty\": 1.5, \"max_length\": 30}");
        GenerationDefaults fromConfig = GenerationDefaults.load(dir);
        assertEquals(1.5, fromConfig.repetitionPenalty());
        assertEquals(30, fromConfig.maxLength());
        GenerationDefaults fromFile = defaults("{\"max_new_tokens\": 7}");
        assertEquals(null, fromFile.repetitionPenalty());
        assertEquals(7, fromFile.maxNewTokens());
    }
}
