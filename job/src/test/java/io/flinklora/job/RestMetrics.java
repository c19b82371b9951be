package io.flinklora.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.apache.flink.api.common.JobID;
import org.apache.flink.client.program.ClusterClient;

/** Reads a running job's generation-operator metric names through Flink's REST API, as an operator would. */
final class RestMetrics {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RestMetrics() {
    }

    static String generationMetricIds(ClusterClient<?> client, JobID job) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        String base = client.getWebInterfaceURL();
        JsonNode details = get(http, base + "/jobs/" + job);
        String vertex = null;
        for (JsonNode v : details.get("vertices")) {
            if (v.get("name").asText().contains("generation")) {
                vertex = v.get("id").asText();
            }
        }
        if (vertex == null) {
            throw new AssertionError("no generation vertex in " + details);
        }
        // Metric names appear once the metric fetcher has polled the task managers.
        String ids = "";
        for (int attempt = 0; attempt < 50 && !ids.contains("tokensPerSecond"); attempt++) {
            ids = get(http, base + "/jobs/" + job + "/vertices/" + vertex + "/subtasks/metrics").toString();
            Thread.sleep(200);
        }
        return ids;
    }

    private static JsonNode get(HttpClient http, String url) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(r.body());
    }
}
