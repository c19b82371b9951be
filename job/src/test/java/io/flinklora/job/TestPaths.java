package io.flinklora.job;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the repository's bundled model from tests (Surefire and Failsafe set {@code
 * project.root}).
 */
final class TestPaths {
    private TestPaths() {}

    static Path root() {
        String root = System.getProperty("project.root");
        if (root != null && Files.isDirectory(Path.of(root, "models"))) {
            return Path.of(root);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("models/stories260k"))) {
                return dir;
            }
        }
        throw new IllegalStateException("models/stories260k not found");
    }

    static Path stories260k() {
        return root().resolve("models/stories260k");
    }
}
