package io.flinklora.gpu.lora;

/** A request's use of one adapter: its name under the adapter root and its weight in the mix. */
public record AdapterRef(String name, double weight) {
}
