package io.flinklora.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The engine's layers point one way: the request front end over the engine core (scheduler,
 * runner), over its parts (KV blocks, adapters, sampling), over the model, over the leaves (file
 * formats, tokenizer, error codes). A package may refer only to packages of lower layers; the
 * applications built on the engine (CLI, routing, composing, training, benchmarks) may also use
 * each other.
 */
class PackageArrowsTest {
    private static final Map<String, Integer> LAYER =
            Map.ofEntries(
                    Map.entry("errors", 0),
                    Map.entry("tokenizer", 0),
                    Map.entry("safetensors", 0),
                    Map.entry("model", 1),
                    Map.entry("kv", 2),
                    Map.entry("lora", 2),
                    Map.entry("sampling", 2),
                    Map.entry("engine", 3),
                    Map.entry("frontend", 4),
                    Map.entry("route", 5),
                    Map.entry("train", 5),
                    Map.entry("compose", 5),
                    Map.entry("cli", 5),
                    Map.entry("bench", 5));
    private static final int APPLICATIONS = 5;
    private static final Pattern REFERENCE = Pattern.compile("io\\.flinklora\\.gpu\\.([a-z]+)\\.");

    private static Path sources() {
        return TestModels.projectRoot().resolve("gpu/src/main/java/io/flinklora/gpu");
    }

    @Test
    void everyPackageRefersToLowerLayersOnly() throws IOException {
        List<String> upward = new ArrayList<>();
        try (Stream<Path> packages = Files.list(sources())) {
            for (Path dir : packages.filter(Files::isDirectory).sorted().toList()) {
                String from = dir.getFileName().toString();
                for (String to : references(dir)) {
                    if (to.equals(from)) {
                        continue;
                    }
                    int a = LAYER.get(from);
                    int b = LAYER.get(to);
                    if (!(b < a || (a == APPLICATIONS && b == APPLICATIONS))) {
                        upward.add(from + " -> " + to);
                    }
                }
            }
        }
        assertEquals(List.of(), upward, "references that run up (or across) the layers");
    }

    @Test
    void everyPackageHasALayer() throws IOException {
        try (Stream<Path> packages = Files.list(sources())) {
            for (Path dir : packages.filter(Files::isDirectory).toList()) {
                String name = dir.getFileName().toString();
                assertTrue(LAYER.containsKey(name), "package " + name + " is in no layer: add it");
                for (String to : references(dir)) {
                    assertTrue(
                            LAYER.containsKey(to),
                            name + " refers to " + to + ", which is in no layer");
                }
            }
        }
    }

    /** The gpu packages a package's sources name, in imports or fully qualified. */
    private static TreeSet<String> references(Path dir) throws IOException {
        TreeSet<String> out = new TreeSet<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                for (String line : Files.readAllLines(f)) {
                    if (line.startsWith("package ")) {
                        continue;
                    }
                    Matcher m = REFERENCE.matcher(line);
                    while (m.find()) {
                        out.add(m.group(1));
                    }
                }
            }
        }
        return out;
    }
}
