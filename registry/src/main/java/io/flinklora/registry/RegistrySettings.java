package io.flinklora.registry;

import io.apicurio.registry.serde.SerdeConfig;
import io.apicurio.registry.serde.avro.AvroKafkaSerdeConfig;
import io.apicurio.registry.serde.avro.strategy.QualifiedRecordIdStrategy;
import io.flinklora.annotation.PublicEvolving;
import java.io.Serializable;
import java.net.URI;
import java.util.HashMap;
import java.util.Map;

/**
 * Where the schema registry is and how the contracts are framed for it: Confluent's wire format
 * (magic byte 0, 4-byte big-endian id, Avro binary), ids being the registry's content ids (the ids
 * of its Confluent-compatible API), one subject per record type named by its full name (Confluent's
 * RecordNameStrategy: a reply topic carries three record types), schemas registered on first use.
 */
@PublicEvolving
public final class RegistrySettings implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Apicurio's own REST API, which its serde talks to. */
    static final String API_PATH = "/apis/registry/v2";

    private final String apiUrl;

    private RegistrySettings(String apiUrl) {
        this.apiUrl = apiUrl;
    }

    /**
     * {@code url}: the registry's address ({@code http://host:8080}) or its API URL ({@code
     * http://host:8080/apis/registry/v2}). Other API paths (the Confluent-compatible {@code
     * /apis/ccompat/...}) are refused: the serde needs the registry's own API.
     */
    public static RegistrySettings of(String url) {
        URI uri;
        try {
            uri = URI.create(url.trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("schema registry URL is not a URL: " + url);
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())
                || uri.getHost() == null) {
            throw new IllegalArgumentException(
                    "schema registry URL must be http(s)://host[:port]["
                            + API_PATH
                            + "], got "
                            + url);
        }
        String path = uri.getPath() == null ? "" : uri.getPath().replaceAll("/+$", "");
        if (path.contains("/apis/") && !path.endsWith(API_PATH)) {
            throw new IllegalArgumentException(
                    "give the registry's address or its " + API_PATH + " URL, not " + url);
        }
        String base = url.trim().replaceAll("/+$", "");
        return new RegistrySettings(path.endsWith(API_PATH) ? base : base + API_PATH);
    }

    /** The registry's REST API URL the serde uses. */
    public String apiUrl() {
        return apiUrl;
    }

    /**
     * The serde's configuration, the same for serializers and deserializers (so ids are read as
     * written).
     */
    Map<String, Object> serdeConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put(SerdeConfig.REGISTRY_URL, apiUrl);
        // Ids in the payload as 4 bytes (Confluent's layout), not in Kafka headers nor as 8-byte
        // global ids.
        c.put(SerdeConfig.ENABLE_CONFLUENT_ID_HANDLER, "true");
        c.put(SerdeConfig.ENABLE_HEADERS, "false");
        // Content ids are what the Confluent-compatible API calls schema ids: a Confluent
        // deserializer finds them.
        c.put(SerdeConfig.USE_ID, "contentId");
        c.put(SerdeConfig.ARTIFACT_RESOLVER_STRATEGY, QualifiedRecordIdStrategy.class.getName());
        // Registering is also where the registry's compatibility rules refuse an incompatible
        // change.
        c.put(SerdeConfig.AUTO_REGISTER_ARTIFACT, "true");
        c.put(AvroKafkaSerdeConfig.USE_SPECIFIC_AVRO_READER, "true");
        return c;
    }

    @Override
    public String toString() {
        return apiUrl;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RegistrySettings r && r.apiUrl.equals(apiUrl);
    }

    @Override
    public int hashCode() {
        return apiUrl.hashCode();
    }
}
