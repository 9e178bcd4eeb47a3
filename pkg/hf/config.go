package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Config is a Hugging Face config.json for the models gomezo runs (RoBERTa
// and OPT). Fields absent from the file take the defaults of transformers
// 4.28's RobertaConfig or OPTConfig (chosen by model_type; other model types
// get only the PretrainedConfig defaults), so a config written by
// save_pretrained, which omits nothing, and a hand-trimmed one read alike.
// Every key that has no field here is kept in Raw.
type Config struct {
	ModelType           string   `json:"model_type"`
	Architectures       []string `json:"architectures"`
	TorchDType          string   `json:"torch_dtype"`
	TransformersVersion string   `json:"transformers_version"`

	VocabSize             int `json:"vocab_size"`
	HiddenSize            int `json:"hidden_size"`
	NumHiddenLayers       int `json:"num_hidden_layers"`
	NumAttentionHeads     int `json:"num_attention_heads"`
	MaxPositionEmbeddings int `json:"max_position_embeddings"`
	PadTokenID            int `json:"pad_token_id"`
	BOSTokenID            int `json:"bos_token_id"`
	EOSTokenID            int `json:"eos_token_id"`
	// TieWordEmbeddings is true when the file omits it (PretrainedConfig's
	// default): the LM head's decoder shares the word embeddings.
	TieWordEmbeddings bool `json:"tie_word_embeddings"`
	UseCache          bool `json:"use_cache"`

	// RoBERTa (and BERT-like) fields.
	IntermediateSize          int      `json:"intermediate_size"`
	TypeVocabSize             int      `json:"type_vocab_size"`
	LayerNormEps              float64  `json:"layer_norm_eps"`
	HiddenAct                 string   `json:"hidden_act"`
	PositionEmbeddingType     string   `json:"position_embedding_type"`
	HiddenDropoutProb         float64  `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64  `json:"attention_probs_dropout_prob"`
	InitializerRange          float64  `json:"initializer_range"`
	ClassifierDropout         *float64 `json:"classifier_dropout"` // nil: use HiddenDropoutProb

	// OPT fields.
	FFNDim                     int     `json:"ffn_dim"`
	DoLayerNormBefore          bool    `json:"do_layer_norm_before"`
	WordEmbedProjDim           int     `json:"word_embed_proj_dim"` // HiddenSize when absent or null
	ActivationFunction         string  `json:"activation_function"`
	Dropout                    float64 `json:"dropout"`
	AttentionDropout           float64 `json:"attention_dropout"`
	LayerDrop                  float64 `json:"layerdrop"`
	InitStd                    float64 `json:"init_std"`
	EnableBias                 bool    `json:"enable_bias"`
	LayerNormElementwiseAffine bool    `json:"layer_norm_elementwise_affine"`
	RemoveFinalLayerNorm       bool    `json:"_remove_final_layer_norm"`

	// Classification heads. NumLabels comes from "num_labels" when present,
	// else from the size of id2label, else 2 (PretrainedConfig's default).
	NumLabels   int            `json:"num_labels"`
	ID2Label    map[int]string `json:"id2label"`
	Label2ID    map[string]int `json:"label2id"`
	ProblemType string         `json:"problem_type"`

	// Raw holds every key of the file that has no field above, as decoded
	// by encoding/json.
	Raw map[string]any `json:"-"`
}

// defaultConfig returns transformers 4.28's defaults for modelType.
func defaultConfig(modelType string) Config {
	c := Config{ModelType: modelType, TieWordEmbeddings: true, UseCache: true}
	switch modelType {
	case "roberta":
		c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads = 50265, 768, 12, 12
		c.IntermediateSize, c.HiddenAct = 3072, "gelu"
		c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0.1, 0.1
		c.MaxPositionEmbeddings, c.TypeVocabSize = 512, 2
		c.InitializerRange, c.LayerNormEps = 0.02, 1e-12
		c.PadTokenID, c.BOSTokenID, c.EOSTokenID = 1, 0, 2
		c.PositionEmbeddingType = "absolute"
	case "opt":
		c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads = 50272, 768, 12, 12
		c.FFNDim, c.MaxPositionEmbeddings = 3072, 2048
		c.DoLayerNormBefore = true
		c.Dropout, c.AttentionDropout, c.LayerDrop = 0.1, 0, 0
		c.ActivationFunction, c.InitStd = "relu", 0.02
		c.PadTokenID, c.BOSTokenID, c.EOSTokenID = 1, 2, 2
		c.EnableBias, c.LayerNormElementwiseAffine = true, true
	}
	return c
}

// configKeys is the set of JSON keys that have a Config field.
var configKeys = func() map[string]bool {
	m := map[string]bool{}
	rt := reflect.TypeOf(Config{})
	for i := 0; i < rt.NumField(); i++ {
		if tag := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]; tag != "" && tag != "-" {
			m[tag] = true
		}
	}
	return m
}()

// ParseConfig decodes a config.json document. name is used in errors.
func ParseConfig(data []byte, name string) (*Config, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("hf: config %s: %w", name, err)
	}
	mt, _ := raw["model_type"].(string)
	c := defaultConfig(mt)
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("hf: config %s: %w", name, err)
	}
	if _, ok := raw["num_labels"]; !ok {
		c.NumLabels = 2
		if len(c.ID2Label) > 0 {
			c.NumLabels = len(c.ID2Label)
		}
	}
	if c.ModelType == "opt" && c.WordEmbedProjDim == 0 {
		c.WordEmbedProjDim = c.HiddenSize
	}
	c.Raw = map[string]any{}
	for k, v := range raw {
		if !configKeys[k] {
			c.Raw[k] = v
		}
	}
	return &c, nil
}

// ReadConfig reads dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("hf: no config.json in %s", dir)
		}
		return nil, fmt.Errorf("hf: %w", err)
	}
	return ParseConfig(data, path)
}

// HeadDim returns HiddenSize / NumAttentionHeads, or an error when the
// heads do not divide the hidden size.
func (c *Config) HeadDim() (int, error) {
	if c.NumAttentionHeads <= 0 || c.HiddenSize%c.NumAttentionHeads != 0 {
		return 0, fmt.Errorf("hf: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	return c.HiddenSize / c.NumAttentionHeads, nil
}
