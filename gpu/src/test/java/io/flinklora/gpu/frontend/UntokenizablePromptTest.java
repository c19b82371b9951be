package io.flinklora.gpu.frontend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.TestModels;
import io.flinklora.gpu.errors.ErrorCode;
import io.flinklora.gpu.errors.RequestException;
import io.flinklora.gpu.model.GenerationDefaults;
import io.flinklora.gpu.sampling.RequestLimits;
import io.flinklora.gpu.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A prompt the model's tokenizer cannot encode (transformers raises on it too: Gemma's class over a
 * byte-level vocabulary without its unknown token) is refused with a coded error, and the same
 * tokenizer still encodes the texts it can.
 */
class UntokenizablePromptTest {
    @Test
    void aTextTheTokenizerCannotEncodeIsRefusedWithInvalidToken() throws IOException {
        Path dir =
                TestModels.projectRoot()
                        .resolve("gpu/src/test/resources/tokenizer-conformance")
                        .resolve("bl_gemma_class_without_unk");
        try (Tokenizer tokenizer = Tokenizer.load(dir)) {
            RequestProcessor front =
                    new RequestProcessor(
                            tokenizer,
                            1 << 16,
                            4096,
                            RequestLimits.DEFAULT,
                            GenerationDefaults.NONE);
            RequestException e =
                    assertThrows(RequestException.class, () -> front.encodePrompt("Hello world"));
            assertEquals(ErrorCode.INVALID_TOKEN, e.code());
            assertTrue(e.getMessage().contains("cannot encode"), e.getMessage());
            // transformers' ids for the texts it can encode with these files (cases.json)
            int encoded = 0;
            for (JsonNode c :
                    new ObjectMapper()
                            .readTree(dir.resolveSibling("cases.json").toFile())
                            .get("cases")) {
                if (c.get("name").asText().equals("bl_gemma_class_without_unk")) {
                    for (JsonNode row : c.get("texts")) {
                        if (row.has("ids")) {
                            assertArrayEquals(
                                    new ObjectMapper().convertValue(row.get("ids"), int[].class),
                                    front.encodePrompt(row.get("text").asText()));
                            encoded++;
                        }
                    }
                }
            }
            assertTrue(encoded > 3, "texts transformers encodes: " + encoded);
        }
    }
}
