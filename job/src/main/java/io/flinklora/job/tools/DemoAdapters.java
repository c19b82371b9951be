package io.flinklora.job.tools;

import io.flinklora.annotation.Internal;
import io.flinklora.job.DemoMain;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Prints the demo adapter root (models/adapters when trained ones ship, else random ones written
 * under WORK).
 */
@Internal
public final class DemoAdapters {
    private DemoAdapters() {}

    /** Args: repository root, model folder, work folder. */
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]).toAbsolutePath();
        Path model = Path.of(args[1]).toAbsolutePath();
        Path work = Files.createDirectories(Path.of(args[2]).toAbsolutePath());
        System.out.println(DemoMain.demoAdapters(root, model, work));
    }
}
