package io.flinklora.gpu.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The config.json files of well-known checkpoints of the older architectures, as their hubs publish
 * them (legacy fields included: n_ctx, n_special, Megatron switches, StarCoder's runner switches,
 * OPT's prefix): read, not refused, with the shapes transformers builds from them.
 */
class HubConfigsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ModelConfig parse(String name, String json) throws Exception {
        return ModelConfig.parse(JSON.readTree(json), name);
    }

    @Test
    void gpt2MediumsLegacyFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "gpt2-medium",
                        "{\"activation_function\": \"gelu_new\", \"architectures\":"
                                + " [\"GPT2LMHeadModel\"], \"attn_pdrop\": 0.1, \"bos_token_id\":"
                                + " 50256, \"embd_pdrop\": 0.1, \"eos_token_id\": 50256,"
                                + " \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05,"
                                + " \"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 1024,"
                                + " \"n_head\": 16, \"n_layer\": 24, \"n_positions\": 1024,"
                                + " \"n_special\": 0, \"predict_special_tokens\": true,"
                                + " \"resid_pdrop\": 0.1, \"summary_activation\": null,"
                                + " \"summary_first_dropout\": 0.1, \"summary_proj_to_labels\":"
                                + " true, \"summary_type\": \"cls_index\", \"summary_use_proj\":"
                                + " true, \"task_specific_params\": {\"text-generation\":"
                                + " {\"do_sample\": true, \"max_length\": 50}}, \"vocab_size\":"
                                + " 50257}");
        assertEquals(1024, c.hiddenSize());
        assertEquals(24, c.numLayers());
        assertEquals(16, c.numHeads());
        assertEquals(4096, c.intermediateSize(), "n_inner absent: 4 x n_embd");
        assertEquals(1024, c.maxPositions());
        assertTrue(c.tieWordEmbeddings());
        assertEquals(ModelConfig.Activation.GELU_TANH, c.block().activation());
    }

    @Test
    void distilgpt2sLabelFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "distilgpt2",
                        "{\"_num_labels\": 1, \"activation_function\": \"gelu_new\","
                                + " \"architectures\": [\"GPT2LMHeadModel\"], \"attn_pdrop\": 0.1,"
                                + " \"bos_token_id\": 50256, \"embd_pdrop\": 0.1, \"eos_token_id\":"
                                + " 50256, \"id2label\": {\"0\": \"LABEL_0\"},"
                                + " \"initializer_range\": 0.02, \"label2id\": {\"LABEL_0\": 0},"
                                + " \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\","
                                + " \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 6,"
                                + " \"n_positions\": 1024, \"resid_pdrop\": 0.1,"
                                + " \"summary_activation\": null, \"summary_first_dropout\": 0.1,"
                                + " \"summary_proj_to_labels\": true, \"summary_type\":"
                                + " \"cls_index\", \"summary_use_proj\": true, \"vocab_size\":"
                                + " 50257}");
        assertEquals(6, c.numLayers());
    }

    @Test
    void opt125msFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "opt-125m",
                        "{\"_name_or_path\": \"facebook/opt-125m\", \"activation_dropout\": 0.0,"
                                + " \"activation_function\": \"relu\", \"architectures\":"
                                + " [\"OPTForCausalLM\"], \"attention_dropout\": 0.0,"
                                + " \"bos_token_id\": 2, \"do_layer_norm_before\": true,"
                                + " \"dropout\": 0.1, \"eos_token_id\": 2, \"ffn_dim\": 3072,"
                                + " \"hidden_size\": 768, \"init_std\": 0.02, \"layerdrop\": 0.0,"
                                + " \"max_position_embeddings\": 2048, \"model_type\": \"opt\","
                                + " \"num_attention_heads\": 12, \"num_hidden_layers\": 12,"
                                + " \"pad_token_id\": 1, \"prefix\": \"</s>\", \"torch_dtype\":"
                                + " \"float16\", \"transformers_version\": \"4.21.0.dev0\","
                                + " \"use_cache\": true, \"vocab_size\": 50272,"
                                + " \"word_embed_proj_dim\": 768}");
        assertEquals(3072, c.intermediateSize());
        assertEquals(768, c.embeddingWidth());
        assertFalse(c.block().postLayerNorm());
        assertTrue(c.block().finalNorm());
    }

    @Test
    void opt350msProjectionsAndPostNormsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "opt-350m",
                        "{\"activation_dropout\": 0.0, \"activation_function\": \"relu\","
                                + " \"architectures\": [\"OPTForCausalLM\"],"
                                + " \"attention_dropout\": 0.0, \"bos_token_id\": 2,"
                                + " \"do_layer_norm_before\": false, \"dropout\": 0.1,"
                                + " \"eos_token_id\": 2, \"ffn_dim\": 4096, \"hidden_size\": 1024,"
                                + " \"init_std\": 0.02, \"layerdrop\": 0.0,"
                                + " \"max_position_embeddings\": 2048, \"model_type\": \"opt\","
                                + " \"num_attention_heads\": 16, \"num_hidden_layers\": 24,"
                                + " \"pad_token_id\": 1, \"prefix\": \"</s>\", \"torch_dtype\":"
                                + " \"float16\", \"use_cache\": true, \"vocab_size\": 50272,"
                                + " \"word_embed_proj_dim\": 512}");
        assertEquals(512, c.embeddingWidth());
        assertTrue(c.projectsEmbeddings());
        assertTrue(c.block().postLayerNorm());
        assertFalse(c.block().finalNorm());
    }

    @Test
    void bloom560msMegatronFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "bloom-560m",
                        "{\"apply_residual_connection_post_layernorm\": false,"
                                + " \"attention_dropout\": 0.0, \"architectures\":"
                                + " [\"BloomForCausalLM\"], \"attention_softmax_in_fp32\": true,"
                                + " \"bias_dropout_fusion\": true, \"bos_token_id\": 1,"
                                + " \"eos_token_id\": 2, \"hidden_dropout\": 0.0, \"hidden_size\":"
                                + " 1024, \"initializer_range\": 0.02, \"layer_norm_epsilon\":"
                                + " 1e-05, \"masked_softmax_fusion\": true, \"model_type\":"
                                + " \"bloom\", \"n_head\": 16, \"n_inner\": null, \"n_layer\": 24,"
                                + " \"offset_alibi\": 100, \"pad_token_id\": 3, \"pretraining_tp\":"
                                + " 1, \"skip_bias_add\": true, \"skip_bias_add_qkv\": false,"
                                + " \"slow_but_exact\": false, \"unk_token_id\": 0, \"use_cache\":"
                                + " true, \"vocab_size\": 250880}");
        assertEquals(24, c.numLayers());
        assertEquals(16, c.numHeads());
        assertEquals(4096, c.intermediateSize());
        assertTrue(c.alibi());
        assertEquals(2048, c.maxPositions(), "no bound of its own: the served default");
    }

    @Test
    void gptj6bsFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "gpt-j-6b",
                        "{\"activation_function\": \"gelu_new\", \"architectures\":"
                                + " [\"GPTJForCausalLM\"], \"attn_pdrop\": 0.0, \"bos_token_id\":"
                                + " 50256, \"embd_pdrop\": 0.0, \"eos_token_id\": 50256,"
                                + " \"gradient_checkpointing\": false, \"initializer_range\": 0.02,"
                                + " \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gptj\","
                                + " \"n_embd\": 4096, \"n_head\": 16, \"n_inner\": null,"
                                + " \"n_layer\": 28, \"n_positions\": 2048, \"resid_pdrop\": 0.0,"
                                + " \"rotary\": true, \"rotary_dim\": 64, \"scale_attn_weights\":"
                                + " true, \"summary_activation\": null, \"summary_first_dropout\":"
                                + " 0.1, \"summary_proj_to_labels\": true, \"summary_type\":"
                                + " \"cls_index\", \"summary_use_proj\": true,"
                                + " \"task_specific_params\": {\"text-generation\": {\"do_sample\":"
                                + " true, \"max_length\": 50, \"temperature\": 1.0}},"
                                + " \"tie_word_embeddings\": false, \"tokenizer_class\":"
                                + " \"GPT2Tokenizer\", \"transformers_version\": \"4.18.0.dev0\","
                                + " \"use_cache\": true, \"vocab_size\": 50400}");
        assertEquals(256, c.headDim());
        assertEquals(64, c.rope().rotaryDim(c.headDim()));
        assertTrue(c.block().interleavedRotary());
        assertTrue(c.block().parallel());
        assertTrue(c.headBias());
        assertFalse(c.tieWordEmbeddings());
    }

    @Test
    void starcoderbasesRunnerFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "starcoderbase-1b",
                        "{\"activation_function\": \"gelu_pytorch_tanh\", \"architectures\":"
                                + " [\"GPTBigCodeForCausalLM\"], \"attention_softmax_in_fp32\":"
                                + " true, \"attn_pdrop\": 0.1, \"bos_token_id\": 0,"
                                + " \"embd_pdrop\": 0.1, \"eos_token_id\": 0, \"inference_runner\":"
                                + " 0, \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05,"
                                + " \"max_batch_size\": null, \"max_sequence_length\": null,"
                                + " \"model_type\": \"gpt_bigcode\", \"multi_query\": true,"
                                + " \"n_embd\": 2048, \"n_head\": 16, \"n_inner\": 8192,"
                                + " \"n_layer\": 24, \"n_positions\": 8192, \"pad_key_length\":"
                                + " true, \"pre_allocate_kv_cache\": false, \"resid_pdrop\": 0.1,"
                                + " \"scale_attention_softmax_in_fp32\": true,"
                                + " \"scale_attn_weights\": true, \"summary_activation\": null,"
                                + " \"summary_first_dropout\": 0.1, \"summary_proj_to_labels\":"
                                + " true, \"summary_type\": \"cls_index\", \"summary_use_proj\":"
                                + " true, \"torch_dtype\": \"float32\", \"transformers_version\":"
                                + " \"4.28.1\", \"use_cache\": true, \"validate_runner_input\":"
                                + " true, \"vocab_size\": 49152}");
        assertEquals(1, c.numKvHeads());
        assertEquals(8192, c.intermediateSize());
        assertEquals(8192, c.maxPositions());
    }

    @Test
    void gptNeo125msLayerTypesAreRead() throws Exception {
        // attention_layers as the hub's file writes it, beside the attention_types it expands
        ModelConfig c =
                parse(
                        "gpt-neo-125m",
                        "{\"activation_function\": \"gelu_new\", \"architectures\":"
                                + " [\"GPTNeoForCausalLM\"], \"attention_dropout\": 0,"
                                + " \"attention_layers\": [\"global\", \"local\", \"global\","
                                + " \"local\", \"global\", \"local\", \"global\", \"local\","
                                + " \"global\", \"local\", \"global\", \"local\"],"
                                + " \"attention_types\": [[[\"global\", \"local\"], 6]],"
                                + " \"bos_token_id\": 50256, \"embed_dropout\": 0, \"eos_token_id\":"
                                + " 50256, \"gradient_checkpointing\": false, \"hidden_size\": 768,"
                                + " \"initializer_range\": 0.02, \"intermediate_size\": null,"
                                + " \"layer_norm_epsilon\": 1e-05, \"max_position_embeddings\": 2048,"
                                + " \"model_type\": \"gpt_neo\", \"num_heads\": 12, \"num_layers\":"
                                + " 12, \"resid_dropout\": 0, \"summary_activation\": null,"
                                + " \"summary_first_dropout\": 0.1, \"summary_proj_to_labels\": true,"
                                + " \"summary_type\": \"cls_index\", \"summary_use_proj\": true,"
                                + " \"transformers_version\": \"4.9.0.dev0\", \"use_cache\": true,"
                                + " \"vocab_size\": 50257, \"window_size\": 256}");
        assertEquals(768, c.hiddenSize());
        assertEquals(12, c.numLayers());
        assertEquals(12, c.numHeads());
        assertEquals(3072, c.intermediateSize(), "intermediate_size null: 4 x hidden_size");
        assertEquals(256, c.slidingWindow());
        for (int l = 0; l < 12; l++) {
            assertEquals(l % 2 == 1, c.slides(l), "layer " + l);
        }
        assertEquals(1.0, c.attentionScale(0), "GPT-Neo does not scale its scores");
        assertTrue(c.tieWordEmbeddings());
        assertTrue(c.learnedPositions());
    }

    @Test
    void gptNeo13bsPipelinePresetsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "gpt-neo-1.3B",
                        "{\"activation_function\": \"gelu_new\", \"architectures\":"
                                + " [\"GPTNeoForCausalLM\"], \"attention_dropout\": 0,"
                                + " \"attention_layers\": [\"global\", \"local\", \"global\","
                                + " \"local\", \"global\", \"local\", \"global\", \"local\","
                                + " \"global\", \"local\", \"global\", \"local\", \"global\","
                                + " \"local\", \"global\", \"local\", \"global\", \"local\","
                                + " \"global\", \"local\", \"global\", \"local\", \"global\","
                                + " \"local\"], \"attention_types\": [[[\"global\", \"local\"],"
                                + " 12]], \"bos_token_id\": 50256, \"embed_dropout\": 0,"
                                + " \"eos_token_id\": 50256, \"gradient_checkpointing\": false,"
                                + " \"hidden_size\": 2048, \"initializer_range\": 0.02,"
                                + " \"intermediate_size\": null, \"layer_norm_epsilon\": 1e-05,"
                                + " \"max_position_embeddings\": 2048, \"model_type\": \"gpt_neo\","
                                + " \"num_heads\": 16, \"num_layers\": 24, \"resid_dropout\": 0,"
                                + " \"summary_activation\": null, \"summary_first_dropout\": 0.1,"
                                + " \"summary_proj_to_labels\": true, \"summary_type\":"
                                + " \"cls_index\", \"summary_use_proj\": true,"
                                + " \"task_specific_params\": {\"text-generation\": {\"do_sample\":"
                                + " true, \"max_length\": 50, \"temperature\": 0.9}},"
                                + " \"tokenizer_class\": \"GPT2Tokenizer\", \"transformers_version\":"
                                + " \"4.4.0.dev0\", \"use_cache\": true, \"vocab_size\": 50257,"
                                + " \"window_size\": 256}");
        assertEquals(24, c.numLayers());
        assertEquals(8192, c.intermediateSize());
        assertTrue(c.slides(23) && !c.slides(22));
    }

    @Test
    void falcon7bsRemoteCodeFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "falcon-7b",
                        "{\"alibi\": false, \"apply_residual_connection_post_layernorm\": false,"
                                + " \"architectures\": [\"FalconForCausalLM\"], \"attention_dropout\":"
                                + " 0.0, \"auto_map\": {\"AutoConfig\":"
                                + " \"configuration_falcon.FalconConfig\", \"AutoModel\":"
                                + " \"modeling_falcon.FalconModel\", \"AutoModelForCausalLM\":"
                                + " \"modeling_falcon.FalconForCausalLM\"}, \"bias\": false,"
                                + " \"bos_token_id\": 11, \"eos_token_id\": 11, \"hidden_dropout\":"
                                + " 0.0, \"hidden_size\": 4544, \"initializer_range\": 0.02,"
                                + " \"layer_norm_epsilon\": 1e-05, \"model_type\": \"falcon\","
                                + " \"multi_query\": true, \"new_decoder_architecture\": false,"
                                + " \"num_attention_heads\": 71, \"num_hidden_layers\": 32,"
                                + " \"parallel_attn\": true, \"torch_dtype\": \"bfloat16\","
                                + " \"transformers_version\": \"4.27.4\", \"use_cache\": true,"
                                + " \"vocab_size\": 65024}");
        assertEquals(4544, c.hiddenSize());
        assertEquals(71, c.numHeads());
        assertEquals(1, c.numKvHeads(), "multi_query: one key and value head");
        assertEquals(64, c.headDim());
        assertEquals(4 * 4544, c.intermediateSize(), "ffn_hidden_size absent: 4 x hidden_size");
        assertTrue(c.block().parallel(), "attention and the MLP side by side on one norm");
        assertFalse(c.block().twoNormParallel());
        assertTrue(c.tieWordEmbeddings());
    }

    @Test
    void falcon40bsNewDecoderArchitectureIsRead() throws Exception {
        ModelConfig c =
                parse(
                        "falcon-40b",
                        "{\"alibi\": false, \"apply_residual_connection_post_layernorm\": false,"
                                + " \"architectures\": [\"FalconForCausalLM\"], \"attention_dropout\":"
                                + " 0.0, \"bias\": false, \"bos_token_id\": 11, \"eos_token_id\": 11,"
                                + " \"hidden_dropout\": 0.0, \"hidden_size\": 8192,"
                                + " \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05,"
                                + " \"model_type\": \"falcon\", \"new_decoder_architecture\": true,"
                                + " \"num_attention_heads\": 128, \"num_hidden_layers\": 60,"
                                + " \"num_kv_heads\": 8, \"parallel_attn\": true, \"torch_dtype\":"
                                + " \"bfloat16\", \"transformers_version\": \"4.27.4\","
                                + " \"use_cache\": true, \"vocab_size\": 65024}");
        assertEquals(8, c.numKvHeads());
        assertEquals(60, c.numLayers());
        assertTrue(c.block().twoNormParallel(), "ln_attn and ln_mlp");
    }

    @Test
    void mpt7bsRemoteCodeConfigIsReadAsTransformersMpt() throws Exception {
        // the hub's file names MosaicML's remote-code class; model_type mpt is what transformers
        // builds from without trust_remote_code
        ModelConfig c =
                parse(
                        "mpt-7b",
                        "{\"architectures\": [\"MPTForCausalLM\"], \"attn_config\":"
                                + " {\"alibi\": true, \"alibi_bias_max\": 8, \"attn_impl\":"
                                + " \"torch\", \"attn_pdrop\": 0, \"attn_type\":"
                                + " \"multihead_attention\", \"attn_uses_sequence_id\": false,"
                                + " \"clip_qkv\": null, \"prefix_lm\": false, \"qk_ln\": false,"
                                + " \"softmax_scale\": null}, \"auto_map\": {\"AutoConfig\":"
                                + " \"configuration_mpt.MPTConfig\", \"AutoModelForCausalLM\":"
                                + " \"modeling_mpt.MPTForCausalLM\"}, \"d_model\": 4096,"
                                + " \"emb_pdrop\": 0, \"embedding_fraction\": 1.0,"
                                + " \"expansion_ratio\": 4, \"init_config\": {\"emb_init_std\":"
                                + " null, \"emb_init_uniform_lim\": null, \"fan_mode\": \"fan_in\","
                                + " \"init_div_is_residual\": true, \"init_gain\": 0,"
                                + " \"init_nonlinearity\": \"relu\", \"init_std\": 0.02,"
                                + " \"name\": \"kaiming_normal_\", \"verbose\": 0},"
                                + " \"init_device\": \"cpu\", \"learned_pos_emb\": true,"
                                + " \"logit_scale\": null, \"max_seq_len\": 2048, \"model_type\":"
                                + " \"mpt\", \"n_heads\": 32, \"n_layers\": 32, \"no_bias\": true,"
                                + " \"norm_type\": \"low_precision_layernorm\", \"resid_pdrop\": 0,"
                                + " \"tokenizer_name\": \"EleutherAI/gpt-neox-20b\","
                                + " \"torch_dtype\": \"bfloat16\", \"transformers_version\":"
                                + " \"4.28.1\", \"use_cache\": false, \"verbose\": 0,"
                                + " \"vocab_size\": 50432}");
        assertEquals("MptForCausalLM", c.architecture());
        assertEquals(4096, c.hiddenSize());
        assertEquals(32, c.numLayers());
        assertEquals(32, c.numHeads());
        assertEquals(4 * 4096, c.intermediateSize());
        assertEquals(2048, c.maxPositions());
        assertTrue(c.alibi());
        assertEquals(1 / Math.sqrt(128), c.attentionScale(0), 1e-12);
    }

    @Test
    void codegen350mMonosFieldsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "codegen-350M-mono",
                        "{\"_name_or_path\": \"codegen-350M-mono\", \"activation_function\":"
                                + " \"gelu_new\", \"architectures\": [\"CodeGenForCausalLM\"],"
                                + " \"attn_pdrop\": 0.0, \"bos_token_id\": 1, \"embd_pdrop\": 0.0,"
                                + " \"eos_token_id\": 50256, \"gradient_checkpointing\": false,"
                                + " \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05,"
                                + " \"model_type\": \"codegen\", \"n_ctx\": 2048, \"n_embd\": 1024,"
                                + " \"n_head\": 16, \"n_inner\": null, \"n_layer\": 20,"
                                + " \"n_positions\": 2048, \"resid_pdrop\": 0.0, \"rotary_dim\": 32,"
                                + " \"scale_attn_weights\": true, \"summary_activation\": null,"
                                + " \"summary_first_dropout\": 0.1, \"summary_proj_to_labels\": true,"
                                + " \"summary_type\": \"cls_index\", \"summary_use_proj\": true,"
                                + " \"task_specific_params\": {\"text-generation\": {\"do_sample\":"
                                + " true, \"max_length\": 50, \"temperature\": 1.0}},"
                                + " \"tie_word_embeddings\": false, \"tokenizer_class\":"
                                + " \"GPT2Tokenizer\", \"torch_dtype\": \"float16\","
                                + " \"transformers_version\": \"4.21.0.dev0\", \"use_cache\": true,"
                                + " \"vocab_size\": 51200}");
        assertEquals(1024, c.hiddenSize());
        assertEquals(20, c.numLayers());
        assertEquals(64, c.headDim());
        assertEquals(32, c.rope().rotaryDim(64));
        assertEquals(4096, c.intermediateSize());
        assertTrue(c.headBias());
        assertFalse(c.tieWordEmbeddings());
    }

    @Test
    void jais2AtItsClassDefaultsReadsAsLayerNormsWithBiasesAndAGatelessRelu2Mlp() throws Exception {
        // Jais2Config's defaults (inceptionai/Jais-2-8B-Chat's shape) as save_pretrained writes
        // them
        ModelConfig c =
                parse(
                        "Jais-2-8B",
                        "{\"architectures\": [\"Jais2ForCausalLM\"], \"attention_bias\": true,"
                                + " \"attention_dropout\": 0.0, \"bos_token_id\": 0, \"dtype\":"
                                + " \"bfloat16\", \"eos_token_id\": 150024, \"head_dim\": 128,"
                                + " \"hidden_act\": \"relu2\", \"hidden_size\": 3328,"
                                + " \"initializer_range\": 0.02, \"intermediate_size\": 26624,"
                                + " \"layer_norm_eps\": 1e-05, \"max_position_embeddings\": 8192,"
                                + " \"mlp_bias\": true, \"model_type\": \"jais2\","
                                + " \"num_attention_heads\": 26, \"num_hidden_layers\": 32,"
                                + " \"num_key_value_heads\": 26, \"pad_token_id\": null,"
                                + " \"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\":"
                                + " \"default\"}, \"tie_word_embeddings\": false,"
                                + " \"transformers_version\": \"5.18.0\", \"use_cache\": true,"
                                + " \"vocab_size\": 150272}");
        assertTrue(c.block().layerNorm() && c.block().normBias(), "nn.LayerNorm with a bias");
        assertEquals(ModelConfig.Activation.RELU2, c.block().activation());
        assertFalse(c.gatedMlp());
        assertTrue(c.qkvBias() && c.oBias() && c.mlpBias(), "biases on all six projections");
        assertEquals(128, c.headDim());
        assertEquals(26, c.numKvHeads());
        assertEquals(1e-5, c.rmsNormEps(), 0);
        assertFalse(c.tieWordEmbeddings());
    }

    @Test
    void ministral3TextConfigReadsAsYarnWithLlama4QueryScaleAndNoWindow() throws Exception {
        // Ministral-3-8B's text_config (mistralai/Ministral-3-8B-Instruct-2512), saved as a
        // Ministral3ForCausalLM: its yarn rotary carries Llama 4's query scale
        ModelConfig c =
                parse(
                        "Ministral-3-8B",
                        "{\"architectures\": [\"Ministral3ForCausalLM\"], \"model_type\":"
                                + " \"ministral3\", \"hidden_size\": 4096, \"num_hidden_layers\": 34,"
                                + " \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
                                + " \"head_dim\": 128, \"intermediate_size\": 14336, \"vocab_size\":"
                                + " 131072, \"rms_norm_eps\": 1e-5, \"max_position_embeddings\":"
                                + " 262144, \"sliding_window\": null, \"hidden_act\": \"silu\","
                                + " \"tie_word_embeddings\": false, \"rope_parameters\": {\"rope_type\":"
                                + " \"yarn\", \"type\": \"yarn\", \"rope_theta\": 1000000.0,"
                                + " \"factor\": 16.0, \"original_max_position_embeddings\": 16384,"
                                + " \"beta_fast\": 32.0, \"beta_slow\": 1.0, \"mscale\": 1.0,"
                                + " \"mscale_all_dim\": 1.0, \"max_position_embeddings\": 262144,"
                                + " \"llama_4_scaling_beta\": 0.1}}");
        assertEquals("yarn", c.rope().type());
        assertEquals(16384, c.rope().originalMaxPositions());
        assertEquals(1.0, c.rope().attentionScaling(), 1e-12, "mscale / mscale_all_dim");
        assertEquals(0.1, c.rope().queryScale().beta(), 0);
        assertEquals(16384, c.rope().queryScale().originalMax());
        assertEquals(1f, c.rope().queryScale().at(16383), 0);
        // 1 + 0.1 log(2) from position 16384, 1 + 0.1 log(3) from 32768
        assertEquals(1 + 0.1 * Math.log(2), c.rope().queryScale().at(16384), 1e-6);
        assertEquals(1 + 0.1 * Math.log(3), c.rope().queryScale().at(40000), 1e-6);
        assertEquals(0, c.slidingWindow());
        assertEquals(8, c.numKvHeads());
        assertFalse(c.qkvBias() || c.oBias() || c.mlpBias());
    }

    @Test
    void ministral3WithoutTheQueryScalesBetaIsRefusedAsTransformersFailsOnIt() {
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "ministral3-no-beta",
                                        "{\"architectures\": [\"Ministral3ForCausalLM\"],"
                                                + " \"model_type\": \"ministral3\", \"hidden_size\":"
                                                + " 64, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 16,"
                                                + " \"intermediate_size\": 16, \"num_hidden_layers\": 1,"
                                                + " \"vocab_size\": 64, \"rope_parameters\":"
                                                + " {\"rope_type\": \"default\", \"rope_theta\":"
                                                + " 10000.0}}"));
        assertTrue(e.getMessage().contains("llama_4_scaling_beta"), e.getMessage());
    }

    @Test
    void persimmon8bBaseReadsAsPerHeadQkLayerNormsAndHalfItsHeadsRotating() throws Exception {
        // adept/persimmon-8b-base's config.json (4.x layout): no partial_rotary_factor (the class
        // default 0.5), a num_key_value_heads PersimmonConfig does not declare, equal to the heads
        ModelConfig c =
                parse(
                        "persimmon-8b-base",
                        "{\"architectures\": [\"PersimmonForCausalLM\"], \"model_type\":"
                                + " \"persimmon\", \"hidden_size\": 4096, \"intermediate_size\":"
                                + " 16384, \"num_hidden_layers\": 36, \"num_attention_heads\": 64,"
                                + " \"num_key_value_heads\": 64, \"hidden_act\": \"relu2\","
                                + " \"hidden_dropout\": 0.6, \"attention_dropout\": 0.0,"
                                + " \"layer_norm_eps\": 1e-5, \"max_position_embeddings\": 16384,"
                                + " \"qk_layernorm\": true, \"rope_theta\": 25000.0,"
                                + " \"rope_scaling\": null, \"tie_word_embeddings\": false,"
                                + " \"torch_dtype\": \"bfloat16\", \"vocab_size\": 262144,"
                                + " \"bos_token_id\": 71013, \"eos_token_id\": 71013}");
        assertTrue(c.persimmon() && c.qkNorm(), "LayerNorms over each head of q and k");
        assertTrue(c.block().layerNorm() && c.block().normBias(), "nn.LayerNorm with a bias");
        assertFalse(c.block().parallel(), "attention, then the MLP");
        assertEquals(ModelConfig.Activation.RELU2, c.block().activation());
        assertFalse(c.gatedMlp());
        assertTrue(c.qkvBias() && c.oBias() && c.mlpBias(), "biases on every projection");
        assertFalse(c.headBias());
        assertEquals(64, c.headDim());
        assertEquals(64, c.numKvHeads());
        assertEquals(32, c.rope().rotaryDim(64));
        assertEquals(25000.0, c.rope().theta(), 0);
        assertEquals(1e-5, c.rmsNormEps(), 0);
        assertFalse(c.tieWordEmbeddings());
        assertEquals(
                List.of(
                        "model.layers.3.self_attn.query_key_value",
                        "model.layers.3.self_attn.dense",
                        "model.layers.3.mlp.dense_h_to_4h",
                        "model.layers.3.mlp.dense_4h_to_h"),
                c.linearModules(3).stream().map(LinearModule::path).toList());
    }

    @Test
    void glm45AirReadsAsGroupedSigmoidRoutingWithSharedExpertsAndAHalfRotary() throws Exception {
        // GLM-4.5-Air's config.json as transformers' GLM-4-MoE conversion writes it (4.x layout):
        // head_dim 128 against hidden 4096 / 96 heads, DeepSeek-V3's fields Glm4MoeConfig does not
        // declare (topk_method, moe_router_dtype, decoder_sparse_step) at the routing it computes
        ModelConfig c =
                parse(
                        "GLM-4.5-Air",
                        "{\"architectures\": [\"Glm4MoeForCausalLM\"], \"attention_bias\": true,"
                                + " \"attention_dropout\": 0.0, \"pad_token_id\": 151329,"
                                + " \"eos_token_id\": [151329, 151336, 151338], \"head_dim\": 128,"
                                + " \"hidden_act\": \"silu\", \"hidden_size\": 4096,"
                                + " \"decoder_sparse_step\": 1, \"initializer_range\": 0.02,"
                                + " \"intermediate_size\": 10944, \"max_position_embeddings\": 131072,"
                                + " \"model_type\": \"glm4_moe\", \"moe_intermediate_size\": 1408,"
                                + " \"norm_topk_prob\": true, \"num_attention_heads\": 96,"
                                + " \"n_group\": 1, \"topk_group\": 1, \"n_routed_experts\": 128,"
                                + " \"n_shared_experts\": 1, \"routed_scaling_factor\": 1.0,"
                                + " \"topk_method\": \"noaux_tc\", \"moe_router_dtype\": \"float32\","
                                + " \"num_experts_per_tok\": 8, \"first_k_dense_replace\": 1,"
                                + " \"num_hidden_layers\": 46, \"num_key_value_heads\": 8,"
                                + " \"partial_rotary_factor\": 0.5, \"output_router_logits\": false,"
                                + " \"rms_norm_eps\": 1e-5, \"rope_scaling\": null, \"rope_theta\":"
                                + " 10000, \"router_aux_loss_coef\": 0.001, \"tie_word_embeddings\":"
                                + " false, \"torch_dtype\": \"bfloat16\", \"transformers_version\":"
                                + " \"4.54.0dev\", \"use_cache\": true, \"vocab_size\": 151552}");
        assertEquals(128, c.headDim());
        assertEquals(8, c.numKvHeads());
        assertEquals(64, c.rope().rotaryDim(128));
        assertFalse(c.block().interleavedRotary(), "rotate_half over the leading half");
        assertTrue(c.qkvBias() && !c.oBias() && !c.mlpBias(), "biases on q, k and v only");
        assertFalse(c.qkNorm());
        ModelConfig.Experts x = c.experts();
        assertEquals(128, x.count());
        assertEquals(8, x.perToken());
        assertEquals(1408, x.intermediate());
        assertEquals(1408, x.sharedIntermediate(), "one shared expert, moe_intermediate_size wide");
        assertTrue(x.normalizeTopK());
        assertEquals(ModelConfig.Experts.Routing.SIGMOID_GROUPED_TOP_K, x.routing());
        assertEquals(new ModelConfig.Experts.Grouped(1, 1, 1.0), x.grouped());
        assertFalse(x.sparse(0), "first_k_dense_replace 1: layer 0 dense");
        assertTrue(x.sparse(1) && x.sparse(45));
        assertEquals(List.of(151329, 151336, 151338), c.eosTokenIds());
        for (String loose :
                List.of(
                        "\"topk_method\": \"greedy\"",
                        "\"scoring_func\": \"softmax\"",
                        "\"moe_router_dtype\": \"bfloat16\"",
                        "\"decoder_sparse_step\": 2")) {
            var e =
                    org.junit.jupiter.api.Assertions.assertThrows(
                            ModelFormatException.class,
                            () ->
                                    parse(
                                            "glm4-moe-loose",
                                            "{\"architectures\": [\"Glm4MoeForCausalLM\"],"
                                                    + " \"hidden_size\": 64, \"num_attention_heads\": 4,"
                                                    + " \"num_key_value_heads\": 2,"
                                                    + " \"intermediate_size\": 16, \"num_hidden_layers\": 2,"
                                                    + " \"vocab_size\": 64, \"n_routed_experts\": 4,"
                                                    + " \"num_experts_per_tok\": 2, "
                                                    + loose
                                                    + "}"));
            assertTrue(e.getMessage().contains(loose.split("\"")[1]), e.getMessage());
        }
    }

    @Test
    void apertusWithTheFieldsItsCheckpointsCarryReadsAsXieluBetweenUpAndDown() throws Exception {
        // The fields swiss-ai's Apertus configs carry beside ApertusConfig's own (qk_norm,
        // post_norm, mlp_bias, hidden_dropout: transformers keeps and ignores them), 4.x rotary
        // fields, no head_dim
        String base =
                "{\"architectures\": [\"ApertusForCausalLM\"], \"model_type\": \"apertus\","
                        + " \"hidden_act\": \"xielu\", \"hidden_size\": 4096,"
                        + " \"intermediate_size\": 21504, \"num_hidden_layers\": 32,"
                        + " \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
                        + " \"max_position_embeddings\": 65536, \"attention_bias\": false,"
                        + " \"attention_dropout\": 0.0, \"hidden_dropout\": 0.0,"
                        + " \"rms_norm_eps\": 1e-5, \"rope_theta\": 12000000, \"rope_scaling\":"
                        + " {\"factor\": 8.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0,"
                        + " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},"
                        + " \"tie_word_embeddings\": false, \"vocab_size\": 131072,"
                        + " \"bos_token_id\": 1, \"eos_token_id\": 68, \"pad_token_id\": 3, ";
        ModelConfig c =
                parse(
                        "Apertus-8B",
                        base + "\"qk_norm\": true, \"post_norm\": false, \"mlp_bias\": false}");
        assertEquals(ModelConfig.Activation.XIELU, c.block().activation());
        assertTrue(c.apertus() && c.qkNorm() && !c.gatedMlp() && c.upDownMlp());
        assertFalse(c.qkvBias() || c.oBias() || c.mlpBias());
        assertEquals(128, c.headDim());
        assertEquals("attention_layernorm", c.attentionNormName());
        assertEquals("feedforward_layernorm", c.mlpNormName());
        assertEquals(12_000_000.0, c.rope().theta(), 0);
        for (String loose :
                List.of("\"qk_norm\": false", "\"post_norm\": true", "\"mlp_bias\": true")) {
            var e =
                    org.junit.jupiter.api.Assertions.assertThrows(
                            ModelFormatException.class,
                            () -> parse("apertus-loose", base + loose + "}"));
            assertTrue(e.getMessage().contains(loose.split("\"")[1]), e.getMessage());
        }
        var xielu =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "llama-xielu",
                                        "{\"architectures\": [\"LlamaForCausalLM\"],"
                                                + " \"hidden_act\": \"xielu\", \"hidden_size\": 64,"
                                                + " \"intermediate_size\": 16, \"num_hidden_layers\": 1,"
                                                + " \"num_attention_heads\": 4, \"vocab_size\": 64}"));
        assertTrue(xielu.getMessage().contains("xielu"), xielu.getMessage());
    }

    @Test
    void persimmonWithKeyValueHeadsOrAHeadDimItsModelDoesNotUseIsRefusedNamingThem() {
        String base =
                "{\"architectures\": [\"PersimmonForCausalLM\"], \"model_type\": \"persimmon\","
                        + " \"hidden_size\": 64, \"num_attention_heads\": 4,"
                        + " \"intermediate_size\": 16, \"num_hidden_layers\": 1, \"vocab_size\": 64, ";
        for (String field : List.of("\"num_key_value_heads\": 2", "\"head_dim\": 8")) {
            var e =
                    org.junit.jupiter.api.Assertions.assertThrows(
                            ModelFormatException.class,
                            () -> parse("persimmon-loose", base + field + "}"));
            assertTrue(
                    e.getMessage().contains(field.replace("\"", "").replace(":", "")),
                    e.getMessage());
        }
    }

    @Test
    void jais2WithHiddenSizeNotAMultipleOfItsHeadsIsRefusedAsJais2ConfigRefusesIt() {
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "jais2-30-4",
                                        "{\"architectures\": [\"Jais2ForCausalLM\"],"
                                                + " \"model_type\": \"jais2\", \"hidden_size\": 30,"
                                                + " \"num_attention_heads\": 4, \"head_dim\": 8,"
                                                + " \"intermediate_size\": 16, \"num_hidden_layers\":"
                                                + " 1, \"vocab_size\": 64}"));
        assertTrue(e.getMessage().contains("hidden_size 30"), e.getMessage());
    }

    @Test
    void hunyuanDenseWithRopeScalingAlphaReadsTheNtkAlphaBaseAndLeavesItsYarnKeysUnread()
            throws Exception {
        // the 4.x rope_scaling layout HunYuan's checkpoints use: dynamic, alpha and yarn-style keys
        ModelConfig c =
                parse(
                        "hunyuan-dense-alpha",
                        "{\"architectures\": [\"HunYuanDenseV1ForCausalLM\"], \"model_type\":"
                                + " \"hunyuan_v1_dense\", \"hidden_size\": 4096,"
                                + " \"intermediate_size\": 14336, \"num_hidden_layers\": 32,"
                                + " \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
                                + " \"head_dim\": 128, \"vocab_size\": 128167,"
                                + " \"max_position_embeddings\": 32768, \"rms_norm_eps\": 1e-05,"
                                + " \"rope_theta\": 10000.0, \"rope_scaling\": {\"alpha\": 1000.0,"
                                + " \"beta_fast\": 32, \"beta_slow\": 1, \"factor\": 1.0,"
                                + " \"mscale\": 1.0, \"mscale_all_dim\": 1.0, \"type\": \"dynamic\"},"
                                + " \"attention_bias\": false, \"eod_token_id\": 127967,"
                                + " \"pad_token_id\": 127961, \"tie_word_embeddings\": true}");
        assertEquals("dynamic", c.rope().type());
        // HunYuanDenseV1RotaryEmbedding: rope_theta * alpha ** (head_dim / (head_dim - 2))
        assertEquals(10000.0 * Math.pow(1000.0, 128.0 / 126.0), c.rope().theta(), 1e-6);
        assertTrue(c.qkNorm() && c.qkNormsAfterRotary(), "query_layernorm / key_layernorm");
        assertFalse(c.mlpBias());
    }

    @Test
    void cwmWithoutRotaryFieldsTakesItsLlama3DefaultAndSlidesAllButEveryFourthLayer()
            throws Exception {
        // CwmConfig without rope_parameters, layer_types or sliding_window: its own defaults
        ModelConfig c =
                parse(
                        "cwm-defaults",
                        "{\"architectures\": [\"CwmForCausalLM\"], \"model_type\": \"cwm\","
                                + " \"hidden_size\": 256, \"intermediate_size\": 512,"
                                + " \"num_hidden_layers\": 6, \"num_attention_heads\": 8,"
                                + " \"vocab_size\": 1000, \"rope_theta\": 20000.0}");
        assertEquals("llama3", c.rope().type());
        assertEquals(1_000_000.0, c.rope().theta(), 0, "a top-level rope_theta is unread there");
        assertEquals(16.0, c.rope().factor(), 0);
        assertEquals(8192, c.rope().originalMaxPositions());
        assertEquals(java.util.List.of(false, true, true, true, false, true), c.slidingLayers());
        assertEquals(8192, c.slidingWindow());
        assertEquals(128, c.headDim());
        assertEquals(8, c.numKvHeads());
    }

    @Test
    void cwmWithAZeroWindowIsRefusedAsCwmConfigRefusesIt() {
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "cwm-window-0",
                                        "{\"architectures\": [\"CwmForCausalLM\"], \"model_type\":"
                                                + " \"cwm\", \"hidden_size\": 256,"
                                                + " \"intermediate_size\": 512, \"num_hidden_layers\":"
                                                + " 4, \"num_attention_heads\": 8, \"vocab_size\":"
                                                + " 1000, \"sliding_window\": 0}"));
        assertTrue(e.getMessage().contains("'sliding_window' = 0"), e.getMessage());
    }

    @Test
    void codegenWithHeadsNotInFoursIsRefusedNamingItsShards() {
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "codegen-6-heads",
                                        "{\"architectures\": [\"CodeGenForCausalLM\"],"
                                                + " \"model_type\": \"codegen\", \"n_embd\": 96,"
                                                + " \"n_head\": 6, \"n_layer\": 2, \"rotary_dim\": 8,"
                                                + " \"vocab_size\": 512}"));
        assertTrue(e.getMessage().contains("n_head 6"), e.getMessage());
    }

    @Test
    void mixtral8x7bsExpertsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "Mixtral-8x7B-v0.1",
                        "{\"architectures\": [\"MixtralForCausalLM\"], \"attention_dropout\": 0.0,"
                                + " \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\","
                                + " \"hidden_size\": 4096, \"initializer_range\": 0.02,"
                                + " \"intermediate_size\": 14336, \"max_position_embeddings\": 32768,"
                                + " \"model_type\": \"mixtral\", \"num_attention_heads\": 32,"
                                + " \"num_experts_per_tok\": 2, \"num_hidden_layers\": 32,"
                                + " \"num_key_value_heads\": 8, \"num_local_experts\": 8,"
                                + " \"output_router_logits\": false, \"rms_norm_eps\": 1e-05,"
                                + " \"rope_theta\": 1000000.0, \"router_aux_loss_coef\": 0.02,"
                                + " \"sliding_window\": null, \"tie_word_embeddings\": false,"
                                + " \"torch_dtype\": \"bfloat16\", \"transformers_version\":"
                                + " \"4.36.0.dev0\", \"use_cache\": true, \"vocab_size\": 32000}");
        assertEquals(8, c.experts().count());
        assertEquals(2, c.experts().perToken());
        assertTrue(c.experts().normalizeTopK());
        assertEquals(14336, c.experts().intermediate());
        assertFalse(c.experts().sparse().contains(false), "every layer routes through experts");
        assertEquals(14336, c.intermediateSize());
        assertEquals(8, c.numKvHeads());
        assertEquals(1_000_000.0, c.rope().theta(), 0);
        assertFalse(c.slidingLayers().contains(true), "sliding_window null: no window");
    }

    @Test
    void mixtralPickingMoreExpertsThanItHasIsRefusedNamingTheField() {
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "mixtral-2-experts",
                                        "{\"architectures\": [\"MixtralForCausalLM\"],"
                                                + " \"hidden_size\": 64, \"intermediate_size\": 128,"
                                                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 8,"
                                                + " \"vocab_size\": 512, \"num_local_experts\": 2,"
                                                + " \"num_experts_per_tok\": 3}"));
        assertTrue(e.getMessage().contains("num_experts_per_tok 3"), e.getMessage());
    }

    @Test
    void mixtralWithBothNamesOfItsExpertCountIsRefused() {
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "mixtral-both-counts",
                                        "{\"architectures\": [\"MixtralForCausalLM\"],"
                                                + " \"hidden_size\": 64, \"intermediate_size\": 128,"
                                                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 8,"
                                                + " \"vocab_size\": 512, \"num_local_experts\": 4,"
                                                + " \"num_experts\": 6}"));
        assertTrue(e.getMessage().contains("num_experts"), e.getMessage());
    }

    @Test
    void qwen3Moe30bA3bsExpertsAndUnreadWindowLayersAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "Qwen3-30B-A3B",
                        "{\"architectures\": [\"Qwen3MoeForCausalLM\"], \"attention_bias\": false,"
                                + " \"attention_dropout\": 0.0, \"bos_token_id\": 151643,"
                                + " \"decoder_sparse_step\": 1, \"eos_token_id\": 151645,"
                                + " \"head_dim\": 128, \"hidden_act\": \"silu\", \"hidden_size\": 2048,"
                                + " \"initializer_range\": 0.02, \"intermediate_size\": 6144,"
                                + " \"max_position_embeddings\": 40960, \"max_window_layers\": 48,"
                                + " \"mlp_only_layers\": [], \"model_type\": \"qwen3_moe\","
                                + " \"moe_intermediate_size\": 768, \"norm_topk_prob\": true,"
                                + " \"num_attention_heads\": 32, \"num_experts\": 128,"
                                + " \"num_experts_per_tok\": 8, \"num_hidden_layers\": 48,"
                                + " \"num_key_value_heads\": 4, \"output_router_logits\": false,"
                                + " \"rms_norm_eps\": 1e-06, \"rope_scaling\": null,"
                                + " \"rope_theta\": 1000000.0, \"router_aux_loss_coef\": 0.001,"
                                + " \"sliding_window\": null, \"tie_word_embeddings\": false,"
                                + " \"torch_dtype\": \"bfloat16\", \"transformers_version\":"
                                + " \"4.51.0\", \"use_cache\": true, \"use_sliding_window\": false,"
                                + " \"vocab_size\": 151936}");
        assertEquals(128, c.experts().count());
        assertEquals(8, c.experts().perToken());
        assertTrue(c.experts().normalizeTopK());
        assertFalse(c.experts().float32Sum(), "weights cast back to the compute dtype");
        assertEquals(768, c.experts().intermediate());
        assertEquals(48, c.experts().sparse().size());
        assertFalse(c.experts().sparse().contains(false));
        assertEquals(128, c.headDim());
        assertTrue(c.qkNorm());
        assertFalse(c.slidingLayers().contains(true));
    }

    @Test
    void qwen15MoeA27bsSharedExpertAndQkvBiasAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "Qwen1.5-MoE-A2.7B",
                        "{\"architectures\": [\"Qwen2MoeForCausalLM\"], \"attention_dropout\": 0.0,"
                                + " \"bos_token_id\": 151643, \"decoder_sparse_step\": 1,"
                                + " \"eos_token_id\": 151643, \"hidden_act\": \"silu\", \"hidden_size\": 2048,"
                                + " \"initializer_range\": 0.02, \"intermediate_size\": 5632,"
                                + " \"max_position_embeddings\": 8192, \"max_window_layers\": 21,"
                                + " \"model_type\": \"qwen2_moe\", \"moe_intermediate_size\": 1408,"
                                + " \"norm_topk_prob\": false, \"num_attention_heads\": 16,"
                                + " \"num_experts\": 60, \"num_experts_per_tok\": 4,"
                                + " \"num_hidden_layers\": 24, \"num_key_value_heads\": 16,"
                                + " \"output_router_logits\": false, \"rms_norm_eps\": 1e-06,"
                                + " \"rope_theta\": 1000000.0, \"router_aux_loss_coef\": 0.001,"
                                + " \"shared_expert_intermediate_size\": 5632, \"sliding_window\": 32768,"
                                + " \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
                                + " \"transformers_version\": \"4.40.0.dev0\", \"use_cache\": true,"
                                + " \"use_sliding_window\": false, \"vocab_size\": 151936}");
        assertEquals(60, c.experts().count());
        assertEquals(4, c.experts().perToken());
        assertFalse(c.experts().normalizeTopK());
        assertEquals(1408, c.experts().intermediate());
        assertEquals(5632, c.experts().sharedIntermediate());
        assertFalse(c.experts().sparse().contains(false));
        assertTrue(c.qkvBias(), "q, k and v biased (qkv_bias defaults to true)");
        assertFalse(c.slidingLayers().contains(true), "use_sliding_window false");
    }

    /** gpt-oss-20b's config.json as the hub serves it (from memory; no network here). */
    private static final String GPT_OSS_20B =
            "{\"architectures\": [\"GptOssForCausalLM\"], \"attention_bias\": true,"
                    + " \"attention_dropout\": 0.0, \"eos_token_id\": 200002, \"experts_per_token\": 4,"
                    + " \"head_dim\": 64, \"hidden_act\": \"silu\", \"hidden_size\": 2880,"
                    + " \"initial_context_length\": 4096, \"initializer_range\": 0.02,"
                    + " \"intermediate_size\": 2880, \"layer_types\": [LAYER_TYPES],"
                    + " \"max_position_embeddings\": 131072, \"model_type\": \"gpt_oss\","
                    + " \"num_attention_heads\": 64, \"num_experts_per_tok\": 4,"
                    + " \"num_hidden_layers\": 24, \"num_key_value_heads\": 8,"
                    + " \"num_local_experts\": 32, \"output_router_logits\": false,"
                    + " \"pad_token_id\": 199999, QUANTIZATION \"rms_norm_eps\": 1e-05,"
                    + " \"rope_scaling\": {\"beta_fast\": 32.0, \"beta_slow\": 1.0, \"factor\": 32.0,"
                    + " \"original_max_position_embeddings\": 4096, \"rope_type\": \"yarn\","
                    + " \"truncate\": false}, \"rope_theta\": 150000, \"router_aux_loss_coef\": 0.9,"
                    + " \"sliding_window\": 128, \"swiglu_limit\": 7.0, \"tie_word_embeddings\": false,"
                    + " \"transformers_version\": \"4.55.0.dev0\", \"use_cache\": true,"
                    + " \"vocab_size\": 201088}";

    private static String gptOss20b(boolean mxfp4) {
        String types =
                String.join(
                        ", ",
                        java.util.Collections.nCopies(
                                12, "\"sliding_attention\", \"full_attention\""));
        return GPT_OSS_20B
                .replace("LAYER_TYPES", types)
                .replace(
                        "QUANTIZATION",
                        mxfp4
                                ? "\"quantization_config\": {\"modules_to_not_convert\":"
                                        + " [\"model.layers.*.self_attn\", \"model.layers.*.mlp.router\","
                                        + " \"model.embed_tokens\", \"lm_head\"], \"quant_method\":"
                                        + " \"mxfp4\"},"
                                : "");
    }

    @Test
    void gptOss20bDequantizedIsReadWithItsSinksYarnAndExperts() throws Exception {
        ModelConfig c = parse("gpt-oss-20b (bf16)", gptOss20b(false));
        assertEquals(32, c.experts().count());
        assertEquals(4, c.experts().perToken());
        assertTrue(c.experts().gptOss());
        assertEquals(2880, c.experts().intermediate());
        assertEquals(64, c.headDim());
        assertTrue(c.qkvBias() && c.oBias(), "attention_bias on q, k, v and o");
        assertTrue(c.attentionSinks());
        assertEquals(128, c.slidingWindow());
        assertTrue(c.slidingLayers().get(0) && !c.slidingLayers().get(1));
        assertEquals("yarn", c.rope().type());
    }

    @Test
    void granite31Moe3bA800msMultipliersAndExpertsAreRead() throws Exception {
        ModelConfig c =
                parse(
                        "granite-3.1-3b-a800m",
                        "{\"architectures\": [\"GraniteMoeForCausalLM\"], \"attention_bias\": false,"
                                + " \"attention_dropout\": 0.1, \"attention_multiplier\": 0.015625,"
                                + " \"bos_token_id\": 0, \"embedding_multiplier\": 12.0, \"eos_token_id\": 0,"
                                + " \"hidden_act\": \"silu\", \"hidden_size\": 1536, \"initializer_range\": 0.1,"
                                + " \"intermediate_size\": 512, \"logits_scaling\": 6.0,"
                                + " \"max_position_embeddings\": 131072, \"model_type\": \"granitemoe\","
                                + " \"num_attention_heads\": 24, \"num_experts_per_tok\": 8,"
                                + " \"num_hidden_layers\": 32, \"num_key_value_heads\": 8,"
                                + " \"num_local_experts\": 40, \"output_router_logits\": false,"
                                + " \"pad_token_id\": 0, \"residual_multiplier\": 0.22, \"rms_norm_eps\": 1e-06,"
                                + " \"rope_scaling\": null, \"rope_theta\": 10000000.0,"
                                + " \"router_aux_loss_coef\": 0.01, \"tie_word_embeddings\": true,"
                                + " \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.46.0.dev0\","
                                + " \"use_cache\": true, \"vocab_size\": 49155}");
        assertEquals(40, c.experts().count());
        assertEquals(8, c.experts().perToken());
        assertEquals(512, c.experts().intermediate());
        assertEquals(ModelConfig.Experts.Routing.TOP_K_THEN_FLOAT32_SOFTMAX, c.experts().routing());
        assertEquals("block_sparse_moe", c.expertsBlock());
        assertEquals(12.0f, c.block().embedScale(), 0f);
        assertEquals(0.22, c.block().residualScale(), 1e-7);
        assertEquals(0.015625, c.block().attentionScale(), 0);
        assertEquals(6.0, c.block().logitsScaling(), 0);
    }

    @Test
    void gptOss20bAsTheHubShipsItMxfp4IsRefusedNamingTheQuantization() {
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class, () -> parse("gpt-oss-20b", gptOss20b(true)));
        assertTrue(e.getMessage().contains("quantization_config"), e.getMessage());
        assertTrue(e.getMessage().contains("mxfp4"), e.getMessage());
        assertTrue(e.getMessage().contains("dequantize"), e.getMessage());
    }

    @Test
    void olmoeWithAZeroClipIsRefusedNamingIt() {
        // transformers clamps q, k and v to [-0, 0] then (clip_qkv is not None): refused, not read
        // as "no clamp"
        var e =
                org.junit.jupiter.api.Assertions.assertThrows(
                        ModelFormatException.class,
                        () ->
                                parse(
                                        "olmoe-clip-0",
                                        "{\"architectures\": [\"OlmoeForCausalLM\"],"
                                                + " \"hidden_size\": 64, \"intermediate_size\": 128,"
                                                + " \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                                                + " \"vocab_size\": 512, \"num_experts\": 4,"
                                                + " \"num_experts_per_tok\": 2, \"clip_qkv\": 0}"));
        assertTrue(e.getMessage().contains("clip_qkv"), e.getMessage());
    }
}
