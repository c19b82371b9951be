package io.flinklora.gpu.errors;

/** A request that was accepted but could not be completed (e.g. its adapter failed to load). */
public record RequestFailure(String requestId, ErrorCode code, String message) {
}
