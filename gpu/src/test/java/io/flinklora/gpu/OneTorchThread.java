package io.flinklora.gpu;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * Runs PyTorch with one intra-op thread while a test class needs it, then restores the setting. The
 * stories260k model's operations are tiny: a second OpenMP thread gains nothing, and on a loaded
 * 2-core machine every operation then waits for both threads to get a core (the training tests ran
 * 70 times slower that way).
 */
public final class OneTorchThread {
    private static int saved = -1;

    private OneTorchThread() {}

    public static synchronized void set() {
        Engine.getEngine("PyTorch");
        if (saved < 0) {
            saved = JniUtils.getNumThreads();
        }
        JniUtils.setNumThreads(1);
    }

    public static synchronized void restore() {
        if (saved > 0) {
            JniUtils.setNumThreads(saved);
            saved = -1;
        }
    }
}
