package io.flinklora.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The registry URL a service or the job is given: its address or its own API URL, nothing else. */
class RegistrySettingsTest {

    @Test
    void theAddressOrTheApiUrlGiveTheApiUrl() {
        assertEquals(
                "http://reg:8080/apis/registry/v2",
                RegistrySettings.of("http://reg:8080").apiUrl());
        assertEquals(
                "http://reg:8080/apis/registry/v2",
                RegistrySettings.of("http://reg:8080/").apiUrl());
        assertEquals(
                "https://reg/apis/registry/v2",
                RegistrySettings.of("https://reg/apis/registry/v2/").apiUrl());
        assertEquals(
                "http://reg:8080/registry/apis/registry/v2",
                RegistrySettings.of("http://reg:8080/registry").apiUrl(),
                "behind a path prefix");
    }

    @Test
    void otherApisAndNonUrlsAreRefusedWithTheReason() {
        IllegalArgumentException ccompat =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> RegistrySettings.of("http://reg:8080/apis/ccompat/v6"));
        assertTrue(ccompat.getMessage().contains("/apis/registry/v2"), ccompat.getMessage());
        for (String bad : new String[] {"reg:8080", "ftp://reg", "http://", "not a url"}) {
            assertThrows(IllegalArgumentException.class, () -> RegistrySettings.of(bad), bad);
        }
    }
}
