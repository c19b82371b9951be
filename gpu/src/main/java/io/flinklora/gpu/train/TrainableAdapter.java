package io.flinklora.gpu.train;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.flinklora.annotation.Internal;
import io.flinklora.gpu.lora.PeftWriter;
import io.flinklora.gpu.model.ModelConfig;
import io.flinklora.gpu.model.Projection;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;

/**
 * The LoRA matrices of one adapter as float32 arrays on the training device: A {@code [r, in]} and
 * B {@code [out, r]} per adapted (layer, projection), trainable from a fresh PEFT init, and written
 * as a PEFT folder (read back for serving by {@code LoraAdapter}).
 */
@Internal
public final class TrainableAdapter implements AutoCloseable {
    private final String name;
    private final ModelConfig model;
    private final NDManager manager;
    private final NDArray[][] a;
    private final NDArray[][] b;
    private final double[][] scale;
    private final LoraSpec spec;

    private TrainableAdapter(String name, LoraSpec spec, ModelConfig model, NDManager manager) {
        this.name = name;
        this.spec = spec;
        this.model = model;
        this.manager = manager;
        int n = Projection.values().length;
        this.a = new NDArray[model.numLayers()][n];
        this.b = new NDArray[model.numLayers()][n];
        this.scale = new double[model.numLayers()][n];
    }

    /**
     * PEFT's initialisation: A ~ kaiming-uniform (bound {@code 1/sqrt(in)}), B = 0, so training
     * starts from the base model exactly. The draw depends only on {@code seed}.
     */
    public static TrainableAdapter init(
            LoraSpec spec, ModelConfig model, NDManager parent, long seed) {
        TrainableAdapter t =
                new TrainableAdapter(spec.name(), spec, model, parent.newSubManager(Device.cpu()));
        Random random = new Random(seed);
        for (int l = 0; l < model.numLayers(); l++) {
            for (Projection p : Projection.values()) {
                if (!spec.targets().contains(p)) {
                    continue;
                }
                int in = p.inFeatures(model);
                int out = p.outFeatures(model);
                float[] av = new float[spec.rank() * in];
                double bound = 1.0 / Math.sqrt(in);
                for (int i = 0; i < av.length; i++) {
                    av[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
                }
                t.a[l][p.ordinal()] = Tensors.create(t.manager, av, new Shape(spec.rank(), in));
                t.b[l][p.ordinal()] =
                        t.manager.zeros(new Shape(out, spec.rank()), DataType.FLOAT32);
                t.scale[l][p.ordinal()] = spec.scale();
            }
        }
        for (NDArray param : t.parameters()) {
            param.setRequiresGradient(true);
        }
        return t;
    }

    public String name() {
        return name;
    }

    /** The spec it was initialised from. */
    public LoraSpec spec() {
        return spec;
    }

    /** A of (layer, projection), or null when the adapter leaves that projection alone. */
    public NDArray a(int layer, Projection p) {
        return a[layer][p.ordinal()];
    }

    public NDArray b(int layer, Projection p) {
        return b[layer][p.ordinal()];
    }

    public double scale(int layer, Projection p) {
        return scale[layer][p.ordinal()];
    }

    /** Every trainable array, in a fixed order (layer, projection, A then B). */
    public List<NDArray> parameters() {
        List<NDArray> out = new ArrayList<>();
        for (int l = 0; l < a.length; l++) {
            for (int p = 0; p < a[l].length; p++) {
                if (a[l][p] != null) {
                    out.add(a[l][p]);
                    out.add(b[l][p]);
                }
            }
        }
        return out;
    }

    /** Number of trainable values. */
    public long size() {
        long n = 0;
        for (NDArray p : parameters()) {
            n += p.size();
        }
        return n;
    }

    /**
     * Writes the adapter as a PEFT folder ({@code adapter_config.json} + {@code
     * adapter_model.safetensors}).
     */
    public Path save(Path dir, String baseModel) throws IOException {
        PeftWriter w =
                new PeftWriter(model)
                        .rank(spec.rank())
                        .alpha(spec.alpha())
                        .targets(EnumSet.copyOf(spec.targets()))
                        .baseModel(baseModel);
        for (int l = 0; l < a.length; l++) {
            for (Projection p : Projection.values()) {
                if (a[l][p.ordinal()] != null) {
                    w.module(
                            l,
                            p,
                            a[l][p.ordinal()].toFloatArray(),
                            b[l][p.ordinal()].toFloatArray());
                }
            }
        }
        return w.write(dir, 0, 0, 0);
    }

    @Override
    public void close() {
        manager.close();
    }
}
