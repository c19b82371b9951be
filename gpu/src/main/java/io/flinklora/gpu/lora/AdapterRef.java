package io.flinklora.gpu.lora;

import io.flinklora.annotation.PublicEvolving;

/** A request's use of one adapter: its name under the adapter root and its weight in the mix. */
@PublicEvolving
public record AdapterRef(String name, double weight) {}
