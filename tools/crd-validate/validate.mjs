#!/usr/bin/env node
// Validates Kubernetes custom resources (Gateway API, cert-manager, External Secrets,
// CloudNativePG, Prometheus Operator, Envoy Gateway, Traefik) against the models that the
// kubernetes-models project generates from each project's own CRDs. No schema is written here.
//
// Two passes per resource:
//   1. the model's validate(): types, required fields, enums, patterns, formats, bounds;
//   2. a TypeScript type check of the resource as an object literal of the model's interface
//      (`I<Kind>`): catches unknown fields (typos), which the generated validators let through
//      because they do not set additionalProperties.
//
// Usage:
//   node validate.mjs rendered.yaml [more.yaml ...]   YAML files (multi-document)
//   node validate.mjs --json < resources.json          a JSON array of resources (the tests)
// Prints one JSON report on stdout; exits 1 if any resource is invalid or has no model.

import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));

// API group -> npm package that models it.
const PACKAGES = {
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "cert-manager.io": "@kubernetes-models/cert-manager",
  "acme.cert-manager.io": "@kubernetes-models/cert-manager",
  "external-secrets.io": "@kubernetes-models/external-secrets",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "gateway.envoyproxy.io": "@kubernetes-models/envoy-gateway",
  "traefik.io": "@kubernetes-models/traefik",
};

// The Barman Cloud Plugin's ObjectStore has no published model; its spec.configuration is the
// barman-cloud API type that @kubernetes-models/cloudnative-pg does model (the plugin documents
// it as the same format as the in-tree barmanObjectStore).
const PARTIAL_MODELS = {
  "barmancloud.cnpg.io/v1/ObjectStore": {
    path: "spec.configuration",
    module:
      "@kubernetes-models/cloudnative-pg/github.com/cloudnative-pg/barman-cloud/pkg/api/BarmanObjectStoreConfiguration",
    className: "BarmanObjectStoreConfiguration",
    typeName: "IBarmanObjectStoreConfiguration",
  },
};

function readInput(argv) {
  if (argv.includes("--json")) {
    return JSON.parse(readFileSync(0, "utf8"));
  }
  const resources = [];
  for (const file of argv) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      const value = doc.toJS();
      if (value) resources.push(value);
    }
  }
  return resources;
}

function describe(resource) {
  const meta = resource.metadata ?? {};
  return {
    apiVersion: resource.apiVersion,
    kind: resource.kind,
    namespace: meta.namespace ?? null,
    name: meta.name ?? null,
  };
}

function pick(object, path) {
  return path.split(".").reduce((value, key) => (value == null ? value : value[key]), object);
}

// Which model checks a resource: {module, className, typeName, data, dataPath} or null.
function modelFor(resource) {
  const [group, version] = String(resource.apiVersion).split("/");
  const partial = PARTIAL_MODELS[`${resource.apiVersion}/${resource.kind}`];
  if (partial) {
    return { ...partial, data: pick(resource, partial.path), dataPath: partial.path };
  }
  const pkg = PACKAGES[group];
  if (!pkg || !version) return null;
  return {
    module: `${pkg}/${group}/${version}/${resource.kind}`,
    className: resource.kind,
    typeName: `I${resource.kind}`,
    data: resource,
    dataPath: "",
  };
}

async function validateWithModel(model) {
  let exports;
  try {
    exports = await import(model.module);
  } catch (error) {
    return [`no model ${model.module}: ${error.code ?? error.message}`];
  }
  const Model = exports[model.className];
  if (typeof Model !== "function") return [`${model.module} exports no ${model.className}`];
  try {
    new Model(model.data).validate();
    return [];
  } catch (error) {
    const errors = error.errors ?? [];
    if (errors.length === 0) return [String(error.message ?? error)];
    return errors.map(
      (e) => `${model.dataPath}${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params ?? {})}`,
    );
  }
}

// One TypeScript program for all resources: `const r<i>: I<Kind> = <literal>;`.
function typeCheck(checked) {
  if (checked.length === 0) return new Map();
  const cache = join(here, ".cache");
  mkdirSync(cache, { recursive: true });
  const file = join(cache, "resources.ts");
  const lines = [];
  checked.forEach(({ model }, index) => {
    lines.push(`import type { ${model.typeName} as T${index} } from "${model.module}";`);
  });
  const starts = [];
  checked.forEach(({ model }, index) => {
    starts.push(lines.length + 1);
    lines.push(`export const r${index}: T${index} = ${JSON.stringify(model.data, null, 1)};`);
    // keep line numbers in step with the JSON's own lines
    const extra = JSON.stringify(model.data, null, 1).split("\n").length - 1;
    for (let i = 0; i < extra; i += 1) starts.push(null);
  });
  writeFileSync(file, lines.join("\n") + "\n");
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    // Only the language's own declarations; the DOM library would triple the start-up time.
    lib: ["lib.es2022.d.ts"],
    types: [],
  });
  const problems = new Map();
  const source = program.getSourceFile(file);
  for (const diagnostic of ts.getPreEmitDiagnostics(program, source)) {
    const { line } = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    const statement = source.statements.find(
      (s) => s.getStart(source) <= (diagnostic.start ?? 0) && (diagnostic.start ?? 0) <= s.getEnd(),
    );
    const match = statement && /export const r(\d+)/.exec(statement.getText(source));
    const index = match ? Number(match[1]) : -1;
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, " ");
    const list = problems.get(index) ?? [];
    list.push(`type check (line ${line + 1}): ${message}`);
    problems.set(index, list);
  }
  return problems;
}

async function main() {
  const resources = readInput(process.argv.slice(2));
  const results = [];
  const checked = [];
  for (const resource of resources) {
    const model = modelFor(resource);
    const result = { ...describe(resource), model: model?.module ?? null, errors: [] };
    results.push(result);
    if (!model) {
      result.errors.push(`no model for ${resource.apiVersion} ${resource.kind}`);
      continue;
    }
    if (model.data == null) {
      result.errors.push(`missing ${model.dataPath}`);
      continue;
    }
    result.errors.push(...(await validateWithModel(model)));
    checked.push({ model, result });
  }
  const typeProblems = typeCheck(checked);
  for (const [index, problems] of typeProblems) {
    if (index >= 0) checked[index].result.errors.push(...problems);
    else results.push({ kind: "?", name: "?", model: null, errors: problems });
  }
  const invalid = results.filter((r) => r.errors.length > 0);
  const report = {
    summary: { resources: results.length, valid: results.length - invalid.length, invalid: invalid.length },
    results,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exitCode = invalid.length > 0 ? 1 : 0;
}

await main();
