package io.flinklora.gpu.lora;

import io.flinklora.annotation.PublicEvolving;

/**
 * Counters of an {@link AdapterRegistry}.
 *
 * @param hits requests whose adapter was already loaded (on device or host)
 * @param misses requests that had to wait for a load from disk
 * @param loads loads from disk completed (first loads and reloads of changed files)
 * @param loadNanos total time spent loading from disk
 * @param evictions adapters moved off the device to make room
 * @param drops adapters dropped from host memory (re-read from disk when next used)
 * @param onDevice adapters resident on the device now
 * @param deviceBytes bytes of those adapters
 * @param loaded adapters held in host memory now (device-resident ones included)
 */
@PublicEvolving
public record AdapterStats(
        long hits,
        long misses,
        long loads,
        long loadNanos,
        long evictions,
        long drops,
        int onDevice,
        long deviceBytes,
        int loaded) {}
