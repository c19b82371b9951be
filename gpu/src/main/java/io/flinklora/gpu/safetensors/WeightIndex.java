package io.flinklora.gpu.safetensors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.flinklora.annotation.Internal;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model's weights as one name space: a folder with {@code model.safetensors} or a sharded {@code
 * model.safetensors.index.json}, or a single explicit file (e.g. PEFT {@code
 * adapter_model.safetensors}).
 */
@Internal
public final class WeightIndex implements AutoCloseable {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path source;
    private final Map<String, SafetensorsFile> byTensor;
    private final List<SafetensorsFile> files;

    private WeightIndex(
            Path source, Map<String, SafetensorsFile> byTensor, List<SafetensorsFile> files) {
        this.source = source;
        this.byTensor = Collections.unmodifiableMap(byTensor);
        this.files = List.copyOf(files);
    }

    /**
     * Opens a model folder: {@code model.safetensors} if present (as transformers prefers it),
     * otherwise {@code model.safetensors.index.json} with each shard opened once.
     */
    public static WeightIndex open(Path modelDir) throws IOException {
        if (!Files.isDirectory(modelDir)) {
            throw new SafetensorsException(
                    modelDir + ": not a directory (use openFile for a single .safetensors file)");
        }
        Path single = modelDir.resolve(SINGLE_FILE);
        if (Files.isRegularFile(single)) {
            return openFile(single);
        }
        Path index = modelDir.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) {
            return openSharded(modelDir, index);
        }
        throw new SafetensorsException(
                modelDir + ": no weights found; looked for " + SINGLE_FILE + " and " + INDEX_FILE);
    }

    /** Opens exactly one {@code .safetensors} file. */
    public static WeightIndex openFile(Path file) throws IOException {
        SafetensorsFile f = SafetensorsFile.open(file);
        Map<String, SafetensorsFile> map = new LinkedHashMap<>();
        for (String name : f.tensors().keySet()) {
            map.put(name, f);
        }
        return new WeightIndex(file, map, List.of(f));
    }

    private static WeightIndex openSharded(Path dir, Path index) throws IOException {
        long size = Files.size(index);
        if (size > SafetensorsFile.MAX_HEADER_BYTES) {
            throw new SafetensorsException(
                    index
                            + ": "
                            + size
                            + " bytes, larger than the "
                            + SafetensorsFile.MAX_HEADER_BYTES
                            + " cap");
        }
        JsonNode root;
        try {
            root = SafetensorsFile.JSON.readTree(Files.readString(index));
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(
                    index + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new SafetensorsException(index + ": not valid UTF-8", e);
        }
        JsonNode wm = root == null ? null : root.get("weight_map");
        if (wm == null || !wm.isObject()) {
            throw new SafetensorsException(
                    index + ": missing object 'weight_map' {tensor: shard file}");
        }
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        try {
            for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String tensor = e.getKey();
                if (!e.getValue().isTextual()) {
                    throw new SafetensorsException(
                            index
                                    + ": weight_map entry for tensor '"
                                    + tensor
                                    + "' must be a file name string, got "
                                    + e.getValue());
                }
                String shardName = e.getValue().textValue();
                SafetensorsFile shard = shards.get(shardName);
                if (shard == null) {
                    Path shardPath = resolveShard(dir, index, tensor, shardName);
                    if (!Files.isRegularFile(shardPath)) {
                        throw new SafetensorsException(
                                index
                                        + ": shard '"
                                        + shardName
                                        + "' for tensor '"
                                        + tensor
                                        + "' does not exist");
                    }
                    shard = SafetensorsFile.open(shardPath);
                    shards.put(shardName, shard);
                }
                if (!shard.contains(tensor)) {
                    throw new SafetensorsException(
                            index
                                    + ": tensor '"
                                    + tensor
                                    + "' is mapped to shard "
                                    + shard.path()
                                    + " which does not contain it");
                }
                byTensor.put(tensor, shard);
            }
        } catch (IOException | RuntimeException e) {
            closeAll(shards.values(), e);
            throw e;
        }
        return new WeightIndex(index, byTensor, new ArrayList<>(shards.values()));
    }

    /** Shard names are untrusted: only a plain file name inside the folder is accepted. */
    private static Path resolveShard(Path dir, Path index, String tensor, String shardName)
            throws SafetensorsException {
        String why = null;
        if (shardName.isEmpty() || shardName.equals(".") || shardName.equals("..")) {
            why = "is not a file name";
        } else if (shardName.indexOf('/') >= 0
                || shardName.indexOf('\\') >= 0
                || shardName.indexOf('\0') >= 0
                || shardName.indexOf(':') >= 0) {
            why = "contains a path separator or reserved character";
        } else {
            try {
                Path p = Path.of(shardName);
                if (p.isAbsolute() || p.getNameCount() != 1) {
                    why = "is not a plain file name";
                } else {
                    return dir.resolve(p);
                }
            } catch (InvalidPathException ex) {
                why = "is not a valid file name";
            }
        }
        throw new SafetensorsException(
                index
                        + ": shard '"
                        + shardName
                        + "' for tensor '"
                        + tensor
                        + "' "
                        + why
                        + "; shards must be plain file names in "
                        + dir);
    }

    private static void closeAll(Iterable<SafetensorsFile> files, Throwable primary) {
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (IOException | RuntimeException ex) {
                primary.addSuppressed(ex);
            }
        }
    }

    /** The file or index this was opened from. */
    public Path source() {
        return source;
    }

    /** All tensor names (index order, or data-offset order for a single file). */
    public Set<String> names() {
        return byTensor.keySet();
    }

    public boolean contains(String name) {
        return byTensor.containsKey(name);
    }

    /** Header entry of {@code name}; a {@link SafetensorsException} naming it if absent. */
    public TensorInfo info(String name) throws SafetensorsException {
        return fileOf(name).info(name);
    }

    /** See {@link SafetensorsFile#bytes(String)}. */
    public ByteBuffer bytes(String name) throws IOException {
        return fileOf(name).bytes(name);
    }

    /** See {@link SafetensorsFile#load(String, NDManager, DataType)}. */
    public NDArray load(String name, NDManager manager, DataType target) throws IOException {
        return fileOf(name).load(name, manager, target);
    }

    /** The opened files (one, or each shard once). */
    public List<SafetensorsFile> files() {
        return files;
    }

    private SafetensorsFile fileOf(String name) throws SafetensorsException {
        SafetensorsFile f = byTensor.get(name);
        if (f == null) {
            throw new SafetensorsException(
                    source + ": no tensor '" + name + "' (" + byTensor.size() + " tensors)");
        }
        return f;
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    @Override
    public String toString() {
        return "WeightIndex["
                + source
                + ", "
                + byTensor.size()
                + " tensors in "
                + files.size()
                + " file(s)]";
    }
}
