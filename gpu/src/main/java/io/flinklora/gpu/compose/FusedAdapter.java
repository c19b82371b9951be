package io.flinklora.gpu.compose;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.lora.AdapterCombiner;
import io.flinklora.gpu.lora.CombineMethod;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a weighted mix as one PEFT adapter that serves exactly like the mix: PEFT's {@code cat}
 * combination (ranks concatenated, each A scaled by its weight and its own alpha/r; scaling 1).
 */
@Internal
public final class FusedAdapter {
    private FusedAdapter() {}

    /**
     * Fuses {@code root/name} adapters at the given weights into {@code out}; returns the combined
     * rank.
     */
    public static int write(Path root, List<String> names, double[] weights, Path out)
            throws IOException {
        List<AdapterCombiner.Input> inputs = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            inputs.add(new AdapterCombiner.Input(root.resolve(names.get(i)), weights[i]));
        }
        // With one input PEFT falls back to linear, whose sqrt(|w|) split is equally exact.
        AdapterCombiner.Report report =
                AdapterCombiner.combine(inputs, AdapterCombiner.Options.of(CombineMethod.CAT), out);
        if (report.rsLora()) {
            // cat writes lora_alpha = r, so under use_rslora PEFT scales by alpha / sqrt(r) =
            // sqrt(r), not 1:
            // the served adapter would be sqrt(r) times the mix. lora_alpha = sqrt(r) restores
            // scaling 1.
            Path config = out.resolve("adapter_config.json");
            ObjectMapper om = new ObjectMapper();
            ObjectNode json = (ObjectNode) om.readTree(config.toFile());
            json.put("lora_alpha", Math.sqrt(report.rank()));
            Files.writeString(
                    config, om.writerWithDefaultPrettyPrinter().writeValueAsString(json) + "\n");
        }
        return report.rank();
    }
}
