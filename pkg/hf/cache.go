package hf

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// HubAliases maps a model id to the other ids the same repository is cached
// under. The Hugging Face hub moved the org-less models into organisations
// (roberta-base is now FacebookAI/roberta-base); a cache made before the
// move holds models--roberta-large, one made after holds
// models--FacebookAI--roberta-large, and either id should find either.
var HubAliases = map[string][]string{
	"roberta-base":                  {"FacebookAI/roberta-base"},
	"roberta-large":                 {"FacebookAI/roberta-large"},
	"distilroberta-base":            {"distilbert/distilroberta-base"},
	"FacebookAI/roberta-base":       {"roberta-base"},
	"FacebookAI/roberta-large":      {"roberta-large"},
	"distilbert/distilroberta-base": {"distilroberta-base"},
}

// HubCacheDir returns the Hugging Face hub cache directory and the variable
// it came from, following huggingface_hub: $HF_HUB_CACHE, else the legacy
// $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
func HubCacheDir() (dir, source string) {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d, "HF_HUB_CACHE"
	}
	if d := os.Getenv("HUGGINGFACE_HUB_CACHE"); d != "" {
		return d, "HUGGINGFACE_HUB_CACHE"
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub"), "HF_HOME"
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub"), "XDG_CACHE_HOME"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "~"
	}
	return filepath.Join(home, ".cache", "huggingface", "hub"), "the default"
}

var hubID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)

// ResolveModel turns a model directory or a hub id into a directory.
//
// An existing directory is returned as is. Otherwise nameOrPath must be a
// hub id, NAME or ORG/NAME, optionally followed by @REVISION (a branch or
// tag under refs/, or a commit hash; default main), and is looked up in
// the hub cache (HubCacheDir): models--ORG--NAME/refs/REVISION holds a
// commit hash, and the files are in models--ORG--NAME/snapshots/<hash>/.
// The aliases in HubAliases are tried after the id itself. When the ref is
// missing but the revision is a snapshot's hash, or the cache holds exactly
// one snapshot and the revision is main, that snapshot is used.
//
// Nothing is downloaded: a model that is not found gives an error saying
// where it was looked for and how to get it.
func ResolveModel(nameOrPath string) (string, error) {
	if st, err := os.Stat(nameOrPath); err == nil {
		if st.IsDir() {
			return nameOrPath, nil
		}
		return "", fmt.Errorf("hf: %s is a file; pass the model directory that holds config.json and the weights", nameOrPath)
	}
	id, rev, _ := strings.Cut(nameOrPath, "@")
	if rev == "" {
		rev = "main"
	}
	if !hubID.MatchString(id) || strings.Contains(rev, "/..") || strings.HasPrefix(rev, "..") {
		return "", fmt.Errorf("hf: model directory %s does not exist (and it is not a hub id such as roberta-large or FacebookAI/roberta-large)", nameOrPath)
	}
	cache, source := HubCacheDir()
	ids := append([]string{id}, HubAliases[id]...)
	var looked []string
	for _, cand := range ids {
		repo := filepath.Join(cache, "models--"+strings.ReplaceAll(cand, "/", "--"))
		looked = append(looked, repo)
		if st, err := os.Stat(repo); err != nil || !st.IsDir() {
			continue
		}
		dir, err := snapshotDir(repo, rev)
		if err != nil {
			return "", err
		}
		return dir, nil
	}
	canonical := id
	if len(HubAliases[id]) > 0 && !strings.Contains(id, "/") {
		canonical = HubAliases[id][0]
	}
	return "", fmt.Errorf("hf: model %q not found: it is not a directory, and the Hugging Face cache %s (from %s) has no %s. "+
		"Nothing is downloaded here: on a machine with network access run `huggingface-cli download %s`, "+
		"copy its cache directory (~/.cache/huggingface/hub) to this machine and point HF_HOME or HF_HUB_CACHE at it, "+
		"or pass the model's directory (config.json plus model.safetensors or pytorch_model.bin) instead",
		nameOrPath, cache, source, strings.Join(looked, " or "), canonical)
}

// snapshotDir finds revision rev's snapshot in a models--* cache folder.
func snapshotDir(repo, rev string) (string, error) {
	snaps := filepath.Join(repo, "snapshots")
	if ref, err := os.ReadFile(filepath.Join(repo, "refs", rev)); err == nil {
		hash := strings.TrimSpace(string(ref))
		dir := filepath.Join(snaps, hash)
		if hash == "" || strings.ContainsAny(hash, `/\`) {
			return "", fmt.Errorf("hf: %s holds %q, not a commit hash", filepath.Join(repo, "refs", rev), hash)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return "", fmt.Errorf("hf: %s points at snapshot %s, which is missing (incomplete download?)", filepath.Join(repo, "refs", rev), dir)
		}
		return dir, nil
	}
	if !strings.Contains(rev, "/") {
		if st, err := os.Stat(filepath.Join(snaps, rev)); err == nil && st.IsDir() {
			return filepath.Join(snaps, rev), nil
		}
	}
	ents, _ := os.ReadDir(snaps)
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if rev == "main" && len(dirs) == 1 {
		return filepath.Join(snaps, dirs[0]), nil
	}
	return "", fmt.Errorf("hf: %s has no refs/%s and %d snapshots (%s); pass a snapshot directory or NAME@HASH",
		repo, rev, len(dirs), strings.Join(dirs, ", "))
}
