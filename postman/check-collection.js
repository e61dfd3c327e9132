#!/usr/bin/env node
// Checks the collection before newman runs it: valid against the Postman Collection v2.1 JSON
// schema (so it imports cleanly), one folder per area, a request with test scripts for every
// endpoint of docs/api.md, and every variable it uses listed in the environment.
'use strict';

const path = require('path');
const { Collection } = require('postman-collection');
const { PostmanValidator } = require('@har-sdk/validator');

const collectionJson = require(path.join(__dirname, 'blogapi.postman_collection.json'));
const environmentJson = require(path.join(__dirname, 'local.postman_environment.json'));

const FOLDERS = ['accounts and auth', 'posts', 'votes', 'recovery', 'operations'];
const ENDPOINTS = [
    'POST /api/v1/users/',
    'GET /api/v1/users/me/',
    'PATCH /api/v1/users/me/',
    'DELETE /api/v1/users/me/',
    'POST /api/v1/users/me/password/',
    'GET /api/v1/users/{id}/',
    'POST /api/v1/auth/token/',
    'POST /api/v1/auth/token/refresh/',
    'POST /api/v1/auth/logout/',
    'POST /api/v1/auth/password-recovery/',
    'POST /api/v1/auth/password-reset/',
    'GET /api/v1/posts/',
    'GET /api/v1/posts/mine/',
    'POST /api/v1/posts/',
    'GET /api/v1/posts/{id}/',
    'PUT /api/v1/posts/{id}/',
    'PATCH /api/v1/posts/{id}/',
    'DELETE /api/v1/posts/{id}/',
    'POST /api/v1/votes/',
    'GET /healthz',
    'GET /readyz',
    'GET /api/schema/',
    'GET /api/docs/',
    'GET /admin/',
];

async function main() {
    const problems = [];

    const schemaErrors = await new PostmanValidator().verify(collectionJson);
    schemaErrors.forEach((error) => problems.push(`schema: ${error.instancePath || '/'} ${error.message}`));
    if (collectionJson.info.schema !== 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json') {
        problems.push(`info.schema is not the v2.1.0 collection schema: ${collectionJson.info.schema}`);
    }

    const collection = new Collection(collectionJson);
    const folders = collection.items.map((item) => item.name);
    if (folders.join('|') !== FOLDERS.join('|')) {
        problems.push(`folders are [${folders}], expected [${FOLDERS}]`);
    }
    if (!collection.auth || collection.auth.type !== 'bearer') {
        problems.push('the collection auth is not Bearer {{access_token}}');
    }

    const covered = new Set();
    const localVariables = new Set();
    collection.forEachItem((item) => {
        const endpoint = `${item.request.method} ${item.request.url.getPath().replace(/\/\{\{\w+\}\}\/|\/\d+\//g, '/{id}/')}`;
        covered.add(endpoint);
        const tests = item.events.listenersOwn('test').map((event) => event.script.exec.join('\n')).join('\n');
        if (!/pm\.test\(/.test(tests) || !/to\.have\.status\(\d{3}\)/.test(tests)) {
            problems.push(`"${item.name}" has no test checking its status`);
        }
        item.events.all().forEach((event) => {
            for (const match of event.script.exec.join('\n').matchAll(/pm\.variables\.set\('(\w+)'/g)) {
                localVariables.add(match[1]);
            }
        });
    });
    ENDPOINTS.filter((endpoint) => !covered.has(endpoint)).forEach((endpoint) =>
        problems.push(`no request for ${endpoint}`));

    const defined = new Set(environmentJson.values.map((variable) => variable.key));
    const used = new Set([...JSON.stringify(collectionJson).matchAll(/\{\{(\w+)\}\}/g)].map((match) => match[1]));
    [...used].filter((name) => !defined.has(name) && !localVariables.has(name)).forEach((name) =>
        problems.push(`{{${name}}} is used but not in the environment`));

    if (problems.length) {
        problems.forEach((problem) => console.error(`collection check: ${problem}`));
        process.exit(1);
    }
    let requests = 0;
    collection.forEachItem(() => requests++);
    console.log(`collection check: valid v2.1, ${folders.length} folders, ${requests} requests, ` +
        `all ${ENDPOINTS.length} endpoints covered, ${defined.size} environment variables`);
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
