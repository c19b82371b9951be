package io.flinklora.gpu.model;

import com.fasterxml.jackson.databind.JsonNode;

/** Typed, bounded reads of {@code config.json} fields; every failure names the field. */
final class ConfigReader {
    private ConfigReader() {}

    static boolean has(JsonNode root, String field) {
        return root.has(field) && !root.get(field).isNull();
    }

    static int intField(JsonNode root, String field, String source, Integer dflt, int max) {
        if (!has(root, field)) {
            if (dflt == null) {
                throw new ModelFormatException(source + ": missing required field '" + field + "'");
            }
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new ModelFormatException(
                    source + ": field '" + field + "' must be an integer, got " + n);
        }
        int v = n.asInt();
        if (v < 0 || v > max || (v == 0 && !zeroAllowed(field))) {
            throw new ModelFormatException(
                    source + ": field '" + field + "' = " + v + " is out of range");
        }
        return v;
    }

    /**
     * Fields where 0 is meaningful: token ids, Qwen2's max_window_layers (every layer slides), no
     * experts, no shared MLP.
     */
    private static boolean zeroAllowed(String field) {
        return field.endsWith("token_id")
                || field.equals("max_window_layers")
                // no experts: Qwen3-MoE's layers are then all dense (Mixtral refuses it by name)
                || field.equals("num_experts")
                || field.equals("num_local_experts")
                // GraniteMoeShared's default: no shared MLP (GraniteMoeSharedDecoderLayer)
                || field.equals("shared_intermediate_size")
                // GLM-4-MoE: no dense layers before the sparse ones
                || field.equals("first_k_dense_replace")
                || field.equals("n_routed_experts")
                // refused with its reason where the experts are read (a zero-width shared MLP)
                || field.equals("n_shared_experts")
                // ERNIE 4.5's MoE: no shared experts; routing from layer 0
                || field.equals("moe_num_shared_experts")
                || field.equals("moe_layer_start_index");
    }

    static double number(JsonNode root, String field, String source, double dflt) {
        if (!has(root, field)) {
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new ModelFormatException(
                    source + ": field '" + field + "' must be a finite number, got " + n);
        }
        return n.asDouble();
    }

    static boolean bool(JsonNode root, String field, String source, boolean dflt) {
        if (!has(root, field)) {
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isBoolean()) {
            throw new ModelFormatException(
                    source + ": field '" + field + "' must be true or false, got " + n);
        }
        return n.asBoolean();
    }

    static String text(JsonNode root, String field, String source, String dflt) {
        if (!has(root, field)) {
            return dflt;
        }
        JsonNode n = root.get(field);
        if (!n.isTextual()) {
            throw new ModelFormatException(
                    source + ": field '" + field + "' must be a string, got " + n);
        }
        return n.asText();
    }
}
