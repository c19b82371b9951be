package io.flinklora.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real Apicurio Registry in a process of its own
 * (registry-server/target/registry-server-runner.jar, built by the registry-server module;
 * in-memory storage) on a free loopback port, plus calls of its Confluent-compatible API, which
 * tests use as a Confluent client would.
 */
final class TestRegistry implements AutoCloseable {
    static final String CCOMPAT = "/apis/ccompat/v6";
    private static final String CCOMPAT_JSON = "application/vnd.schemaregistry.v1+json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final Path log;
    private final String url;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private TestRegistry(Process process, Path log, String url) {
        this.process = process;
        this.log = log;
        this.url = url;
    }

    /** Starts the registry and waits until it reports ready (its storage included). */
    static TestRegistry start() throws Exception {
        Path jar = TestPaths.root().resolve("registry-server/target/registry-server-runner.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(
                    jar
                            + " is missing: build with -am (the registry-server module builds it "
                            + "when tests run)");
        }
        // A free port can be taken by another process before the registry binds it: then try
        // another one.
        for (int attempt = 1; ; attempt++) {
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            Path log = Files.createTempFile("registry-server-", ".log");
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process p =
                    new ProcessBuilder(
                                    List.of(
                                            java,
                                            "-Xmx256m",
                                            "-Dquarkus.http.host=127.0.0.1",
                                            "-Dquarkus.http.port=" + port,
                                            "-jar",
                                            jar.toString()))
                            .redirectErrorStream(true)
                            .redirectOutput(log.toFile())
                            .start();
            TestRegistry r = new TestRegistry(p, log, "http://127.0.0.1:" + port);
            try {
                r.awaitReady(Duration.ofSeconds(120));
                return r;
            } catch (Exception | AssertionError e) {
                r.close();
                if (attempt == 3 || !r.logTail().contains("in use")) {
                    throw e;
                }
            }
        }
    }

    private void awaitReady(Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException(
                        "the registry exited (" + process.exitValue() + "):\n" + logTail());
            }
            try {
                if (http.send(
                                        HttpRequest.newBuilder(URI.create(url + "/health/ready"))
                                                .timeout(Duration.ofSeconds(5))
                                                .build(),
                                        HttpResponse.BodyHandlers.discarding())
                                .statusCode()
                        == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException(
                "the registry was not ready within " + timeout + ":\n" + logTail());
    }

    /** The registry's address, as a service would configure it. */
    String url() {
        return url;
    }

    /**
     * GET on the Confluent-compatible API, e.g. {@code /subjects/S/versions/latest}; the status
     * must be 200.
     */
    JsonNode ccompatGet(String path) throws Exception {
        HttpResponse<String> r = ccompat("GET", path, null);
        if (r.statusCode() != 200) {
            throw new IllegalStateException("GET " + path + ": " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }

    /** A call of the Confluent-compatible API with a JSON body (or none). */
    HttpResponse<String> ccompat(String method, String path, String body) throws Exception {
        HttpRequest.Builder b =
                HttpRequest.newBuilder(URI.create(url + CCOMPAT + path))
                        .timeout(Duration.ofSeconds(30))
                        .header("Accept", CCOMPAT_JSON);
        if (body != null) {
            b.header("Content-Type", CCOMPAT_JSON);
        }
        b.method(
                method,
                body == null
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * The id under which {@code subject} holds {@code schema} (Confluent's lookup): what framed
     * records carry.
     */
    int idOf(String subject, org.apache.avro.Schema schema) throws Exception {
        HttpResponse<String> r =
                ccompat(
                        "POST",
                        "/subjects/" + subject,
                        "{\"schema\": " + JSON.writeValueAsString(schema.toString()) + "}");
        if (r.statusCode() != 200) {
            throw new IllegalStateException(
                    subject + " does not hold the schema: " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body()).get("id").asInt();
    }

    /** The versions {@code subject} has. */
    String versions(String subject) throws Exception {
        return ccompatGet("/subjects/" + subject + "/versions").toString();
    }

    private String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
