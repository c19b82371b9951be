package io.flinklora.gpu.errors;

import io.flinklora.annotation.PublicEvolving;

/** A request that was accepted but could not be completed (e.g. its adapter failed to load). */
@PublicEvolving
public record RequestFailure(String requestId, ErrorCode code, String message) {}
