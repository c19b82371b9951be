package io.flinklora.gpu.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.flinklora.gpu.model.Projection;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AdapterConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static AdapterConfig parse(String json) throws Exception {
        return AdapterConfig.parse(JSON.readTree(json), "adapter_config.json");
    }

    @Test
    void unsupportedSettingsAreRefusedNamingTheField() {
        Map<String, String> cases = Map.of(
                "use_dora", "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"use_dora\": true}",
                "modules_to_save", "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"modules_to_save\": [\"lm_head\"]}",
                "bias", "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"bias\": \"lora_only\"}",
                "fan_in_fan_out", "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"fan_in_fan_out\": true}",
                "embed_tokens", "{\"r\": 4, \"target_modules\": [\"q_proj\", \"embed_tokens\"]}",
                "lm_head", "{\"r\": 4, \"target_modules\": \"lm_head\"}",
                "peft_type", "{\"peft_type\": \"IA3\", \"r\": 4, \"target_modules\": [\"q_proj\"]}",
                "r must", "{\"r\": 0, \"target_modules\": [\"q_proj\"]}",
                "target_modules", "{\"r\": 4}");
        cases.forEach((field, json) -> {
            AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> parse(json), field);
            assertTrue(e.getMessage().contains(field), field + " -> " + e.getMessage());
        });
    }

    @Test
    void ranksAlphasAndScalesFollowPeftRules() throws Exception {
        AdapterConfig c = parse("{\"r\": 8, \"lora_alpha\": 16, \"target_modules\": \"all-linear\","
                + " \"rank_pattern\": {\"o_proj\": 2, \"layers.1.self_attn.q_proj\": 4}, \"alpha_pattern\": {\"o_proj\": 8}}");
        assertEquals(2.0, c.scaleOf(0, Projection.Q), 1e-12);
        assertEquals(2, c.rankOf(3, Projection.O));
        assertEquals(4.0, c.scaleOf(3, Projection.O), 1e-12);
        assertEquals(4, c.rankOf(1, Projection.Q));
        assertEquals(8, c.rankOf(11, Projection.Q), "layers.1 does not match layers.11");
        AdapterConfig rs = parse("{\"r\": 16, \"lora_alpha\": 8, \"use_rslora\": true, \"target_modules\": [\"v_proj\"]}");
        assertEquals(2.0, rs.scaleOf(0, Projection.V), 1e-12);
        assertFalse(rs.adapts(0, Projection.Q));
        AdapterConfig regex = parse("{\"r\": 2, \"target_modules\": \".*layers\\\\.[01]\\\\.self_attn\\\\.(q|v)_proj\"}");
        assertTrue(regex.adapts(1, Projection.V));
        assertFalse(regex.adapts(2, Projection.V));
        assertFalse(regex.adapts(0, Projection.K));
        AdapterConfig layers = parse("{\"r\": 2, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0, 2]}");
        assertTrue(layers.adapts(2, Projection.Q));
        assertFalse(layers.adapts(1, Projection.Q));
    }
}
